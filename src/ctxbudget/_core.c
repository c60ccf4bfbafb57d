/*
 * ctxbudget._core: the compiled hot path of the token count cache, a drop-in accelerator for the pure-Python
 * reference implementation in _pycore.py (same names, behaviour and error messages; ctxbudget._speedups picks
 * one, CTXBUDGET_PURE=1 forces the Python one, and a build without a compiler simply has no _core).
 *
 * Why C: a cache hit must cost a small fraction of tokenising a 20-character text (~0.75 us with
 * tiktoken's encode_ordinary here). In CPython the call, the route lookup, the key tuple, the LRU refresh,
 * the TTL clock and the metrics each cost 0.1-0.2 us, so the Python hit path costs several times more
 * (bench/README.md has both). Here the whole path is one C call.
 *
 * What lives here:
 *   Store     LRU + TTL map: namespace (str) -> {key (short text str, or long-text digest int) -> entry},
 *             one recency list across namespaces, exact hit/miss/eviction/expiration tallies.
 *             cache.memory.TokenCountCache subclasses it and adds the documented API.
 *   Recorder  counts, hits, misses, seconds: the numbers behind PerformanceMetrics.
 *   count_route(entry, text, cache, recorder): the cache discipline for one short text.
 *   Facade    TokenCounter.count_tokens: resolves a learned route and runs count_route; any call it does not
 *             handle itself (unknown tool, keyword arguments, long text, str subclass) goes to the Python
 *             implementation unchanged.
 *
 * Thread safety: every operation runs with the GIL held and never calls into Python code while a
 * structure is half-updated (keys are exact str or int, whose hash and equality are C; entries have no
 * finalizers). Python code runs only at the edges: the injected timer and the tokenizer call, before
 * and between structure updates. The module does not declare free-threading support, so a
 * free-threaded interpreter keeps the GIL enabled while it is loaded.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <time.h>

/* Texts up to this many characters are keyed by the text itself; longer ones by a digest (Python side). */
#define SHORT_TEXT_CHARS 1024

static int64_t
monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock behind time.monotonic and time.perf_counter */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Entry: the value stored in a namespace dict, linked into the store's recency list.                   */

typedef struct Entry {
    PyObject_HEAD
    struct Entry *older, *newer;
    PyObject *key;   /* strong: needed to delete the entry on eviction */
    PyObject *table; /* borrowed: the namespace dict holding this entry (kept alive by Store.tables) */
    int64_t count;
    int64_t deadline; /* on the store's clock, ns; unused without a TTL */
} Entry;

static void
Entry_dealloc(PyObject *self)
{
    Py_XDECREF(((Entry *)self)->key);
    PyObject_Free(self);
}

static PyTypeObject EntryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ctxbudget._core._Entry",
    .tp_basicsize = sizeof(Entry),
    .tp_dealloc = Entry_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One cached count (internal).",
};

/* ---------------------------------------------------------------------------------------------------- */
/* Store                                                                                                 */

typedef struct {
    PyObject_HEAD
    PyObject *tables; /* dict: namespace str -> dict: key -> Entry */
    PyObject *timer;  /* NULL: CLOCK_MONOTONIC; else a callable returning seconds (tests inject one) */
    Entry *oldest, *newest;
    Py_ssize_t size, maxsize;
    int64_t ttl_ns; /* 0: no expiry */
    int enabled;
    unsigned long long hits, misses, evictions, expirations;
} Store;

static PyTypeObject StoreType;

static int
store_now(Store *st, int64_t *now)
{
    if (st->timer == NULL) {
        *now = monotonic_ns();
        return 0;
    }
    PyObject *r = PyObject_CallNoArgs(st->timer);
    if (r == NULL)
        return -1;
    double seconds = PyFloat_AsDouble(r);
    if (seconds == -1.0 && PyErr_Occurred()) {
        Py_DECREF(r);
        return -1;
    }
    /* deadlines are now + ttl_ns (ttl_ns <= INT64_MAX / 4): keep both terms within a quarter of the range */
    if (!isfinite(seconds) || fabs(seconds) > 2.0e9) {
        PyErr_Format(PyExc_ValueError, "cache timer returned %R seconds; expected a finite value within +-2e9", r);
        Py_DECREF(r); /* only now: the message above formats it */
        return -1;
    }
    Py_DECREF(r);
    *now = (int64_t)(seconds * 1e9);
    return 0;
}

static inline void
lru_unlink(Store *st, Entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        st->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        st->newest = e->older;
    e->older = e->newer = NULL;
}

static inline void
lru_append(Store *st, Entry *e)
{
    e->older = st->newest;
    e->newer = NULL;
    if (st->newest)
        st->newest->newer = e;
    else
        st->oldest = e;
    st->newest = e;
}

static inline void
lru_touch(Store *st, Entry *e)
{
    if (st->newest != e) {
        lru_unlink(st, e);
        lru_append(st, e);
    }
}

/* Unlink and delete one entry (the namespace dict owns it: the key is held across the delete). */
static int
store_remove(Store *st, Entry *e)
{
    lru_unlink(st, e);
    st->size--;
    PyObject *key = Py_NewRef(e->key);
    int rc = PyDict_DelItem(e->table, key);
    Py_DECREF(key);
    return rc;
}

/* The count (>= 0); -1 for a miss (tallied); -2 with an exception set. */
static int64_t
store_lookup(Store *st, PyObject *ns, PyObject *key, int64_t now)
{
    Entry *e = NULL;
    PyObject *table = PyDict_GetItemWithError(st->tables, ns);
    if (table != NULL)
        e = (Entry *)PyDict_GetItemWithError(table, key);
    if (e == NULL) {
        if (PyErr_Occurred())
            return -2;
        st->misses++;
        return -1;
    }
    if (st->ttl_ns && e->deadline <= now) {
        st->expirations++;
        st->misses++;
        return store_remove(st, e) < 0 ? -2 : -1;
    }
    lru_touch(st, e);
    st->hits++;
    return e->count;
}

static int
store_insert(Store *st, PyObject *ns, PyObject *key, int64_t count, int64_t now)
{
    PyObject *table = PyDict_GetItemWithError(st->tables, ns);
    if (table == NULL) {
        if (PyErr_Occurred())
            return -1;
        table = PyDict_New();
        if (table == NULL)
            return -1;
        int rc = PyDict_SetItem(st->tables, ns, table);
        Py_DECREF(table); /* now owned by st->tables */
        if (rc < 0)
            return -1;
        /* Inserting a dict makes the dict holding it GC-tracked, and so reachable from gc.get_objects(); code
         * that cleared it there would free entries the recency list still links. It holds only tables of
         * str/int keys and entries, which can never form a cycle, so the collector need not see it. */
        PyObject_GC_UnTrack(st->tables);
    }
    int64_t deadline = st->ttl_ns ? now + st->ttl_ns : 0;
    Entry *e = (Entry *)PyDict_GetItemWithError(table, key);
    if (e != NULL) {
        e->count = count;
        e->deadline = deadline;
        lru_touch(st, e);
        return 0;
    }
    if (PyErr_Occurred())
        return -1;
    e = PyObject_Malloc(sizeof(Entry));
    if (e == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject_Init((PyObject *)e, &EntryType);
    e->key = Py_NewRef(key);
    e->table = table;
    e->count = count;
    e->deadline = deadline;
    e->older = e->newer = NULL;
    int rc = PyDict_SetItem(table, key, (PyObject *)e);
    Py_DECREF(e); /* owned by the table from here on */
    if (rc < 0)
        return -1;
    lru_append(st, e);
    st->size++;
    while (st->size > st->maxsize) {
        if (store_remove(st, st->oldest) < 0)
            return -1;
        st->evictions++;
    }
    return 0;
}

static void
store_drop_entries(Store *st)
{
    st->oldest = st->newest = NULL;
    st->size = 0;
    PyDict_Clear(st->tables);
}

static int
check_key(PyObject *ns, PyObject *key)
{
    if (!PyUnicode_CheckExact(ns)) {
        PyErr_Format(PyExc_TypeError, "cache namespace must be str, not %.100s", Py_TYPE(ns)->tp_name);
        return -1;
    }
    if (!PyUnicode_CheckExact(key) && !PyLong_CheckExact(key)) {
        PyErr_Format(PyExc_TypeError, "cache key must be str or int, not %.100s", Py_TYPE(key)->tp_name);
        return -1;
    }
    return 0;
}

static int
as_count(PyObject *obj, int64_t *out)
{
    if (!PyLong_CheckExact(obj)) {
        PyErr_Format(PyExc_ValueError, "count must be an int >= 0, got %R", obj);
        return -1;
    }
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow > 0) {
        PyErr_Format(PyExc_ValueError, "count %R exceeds the cache's limit of %lld", obj, (long long)INT64_MAX);
        return -1;
    }
    if (overflow < 0 || value < 0) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "count must be an int >= 0, got %R", obj);
        return -1;
    }
    *out = value;
    return 0;
}

static PyObject *
Store_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Store *st = (Store *)type->tp_alloc(type, 0);
    if (st == NULL)
        return NULL;
    st->tables = PyDict_New();
    if (st->tables == NULL) {
        Py_DECREF(st);
        return NULL;
    }
    PyObject_GC_UnTrack(st->tables); /* see store_insert */
    st->maxsize = 1;
    st->enabled = 1;
    return (PyObject *)st;
}

static int
Store_init(Store *st, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"maxsize", "ttl_ns", "timer", "enabled", NULL};
    Py_ssize_t maxsize;
    long long ttl_ns;
    PyObject *timer = Py_None;
    int enabled = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nL|Op:Store", kwlist, &maxsize, &ttl_ns, &timer, &enabled))
        return -1;
    if (maxsize < 1) {
        PyErr_Format(PyExc_ValueError, "maxsize must be an int >= 1, got %zd", maxsize);
        return -1;
    }
    if (ttl_ns < 0 || ttl_ns > INT64_MAX / 4) {
        PyErr_Format(PyExc_ValueError, "ttl_ns must be in [0, %lld], got %lld", (long long)(INT64_MAX / 4), ttl_ns);
        return -1;
    }
    if (timer != Py_None && !PyCallable_Check(timer)) {
        PyErr_SetString(PyExc_TypeError, "timer must be callable or None");
        return -1;
    }
    store_drop_entries(st);
    st->maxsize = maxsize;
    st->ttl_ns = ttl_ns;
    st->enabled = enabled;
    Py_XSETREF(st->timer, timer == Py_None ? NULL : Py_NewRef(timer));
    st->hits = st->misses = st->evictions = st->expirations = 0;
    return 0;
}

/* The tables are neither visited nor tracked (see store_insert): they hold only exact str/int keys and
 * entries, never part of a cycle, and code that reached them through the GC and cleared them would free
 * entries the recency list still links. */
static int
Store_traverse(Store *st, visitproc visit, void *arg)
{
    Py_VISIT(st->timer);
    return 0;
}

static int
Store_clear_refs(Store *st)
{
    /* only the timer can lead back to the store; the tables hold str/int keys and entries */
    Py_CLEAR(st->timer);
    return 0;
}

/* For Python subclasses, subtype_dealloc untracks first and releases the heap type afterwards. */
static void
Store_dealloc(Store *st)
{
    PyObject_GC_UnTrack(st);
    st->oldest = st->newest = NULL;
    Py_CLEAR(st->timer);
    Py_CLEAR(st->tables);
    Py_TYPE(st)->tp_free((PyObject *)st);
}

static PyObject *
Store_lookup(Store *st, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "lookup(namespace, key) takes 2 arguments");
        return NULL;
    }
    if (check_key(args[0], args[1]) < 0)
        return NULL;
    if (!st->enabled)
        Py_RETURN_NONE;
    int64_t now = 0;
    if (st->ttl_ns && store_now(st, &now) < 0)
        return NULL;
    if (!st->enabled) /* an injected timer is Python code: another thread may have disabled the cache */
        Py_RETURN_NONE;
    int64_t n = store_lookup(st, args[0], args[1], now);
    if (n == -2)
        return NULL;
    if (n == -1)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(n);
}

static PyObject *
Store_store(Store *st, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t count, now = 0;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "store(namespace, key, count) takes 3 arguments");
        return NULL;
    }
    if (check_key(args[0], args[1]) < 0 || as_count(args[2], &count) < 0)
        return NULL;
    if (!st->enabled)
        Py_RETURN_NONE;
    if (st->ttl_ns && store_now(st, &now) < 0)
        return NULL;
    if (st->enabled && store_insert(st, args[0], args[1], count, now) < 0) /* re-checked after the timer */
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Store_lookup_many(Store *st, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "lookup_many(namespace, keys) takes 2 arguments");
        return NULL;
    }
    PyObject *ns = args[0];
    int64_t now = 0;
    /* the clock first: an injected timer is Python code, which must not run while we hold the keys' items */
    if (st->enabled && st->ttl_ns && store_now(st, &now) < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(args[1], "keys must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **keys = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (check_key(ns, keys[i]) < 0)
            goto fail;
        PyList_SET_ITEM(out, i, Py_NewRef(Py_None));
    }
    if (st->enabled) {
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t c = store_lookup(st, ns, keys[i], now);
            if (c == -2)
                goto fail;
            if (c >= 0) {
                PyObject *v = PyLong_FromLongLong(c);
                if (v == NULL)
                    goto fail;
                Py_SETREF(PyList_GET_ITEM(out, i), v);
            }
        }
    }
    Py_DECREF(seq);
    return out;
fail:
    Py_DECREF(seq);
    Py_XDECREF(out);
    return NULL;
}

static PyObject *
Store_store_many(Store *st, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "store_many(namespace, keys, counts) takes 3 arguments");
        return NULL;
    }
    PyObject *ns = args[0], *result = NULL;
    int64_t *counts = NULL, now = 0;
    if (st->enabled && st->ttl_ns && store_now(st, &now) < 0) /* before holding the items (see lookup_many) */
        return NULL;
    PyObject *keys = PySequence_Fast(args[1], "keys must be a sequence");
    PyObject *values = keys ? PySequence_Fast(args[2], "counts must be a sequence") : NULL;
    if (values == NULL)
        goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(keys);
    if (PySequence_Fast_GET_SIZE(values) != n) {
        PyErr_SetString(PyExc_ValueError, "keys and counts differ in length");
        goto done;
    }
    counts = PyMem_Malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (counts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (check_key(ns, PySequence_Fast_GET_ITEM(keys, i)) < 0 ||
            as_count(PySequence_Fast_GET_ITEM(values, i), &counts[i]) < 0)
            goto done;
    }
    if (st->enabled) {
        /* earlier entries would be evicted by later ones of this call: never let them displace anything */
        for (Py_ssize_t i = n > st->maxsize ? n - st->maxsize : 0; i < n; i++) {
            if (store_insert(st, ns, PySequence_Fast_GET_ITEM(keys, i), counts[i], now) < 0)
                goto done;
        }
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(counts);
    Py_XDECREF(keys);
    Py_XDECREF(values);
    return result;
}

static PyObject *
Store_clear(Store *st, PyObject *Py_UNUSED(ignored))
{
    store_drop_entries(st);
    st->hits = st->misses = st->evictions = st->expirations = 0;
    Py_RETURN_NONE;
}

static PyObject *
Store_enable(Store *st, PyObject *Py_UNUSED(ignored))
{
    st->enabled = 1;
    Py_RETURN_NONE;
}

static PyObject *
Store_disable(Store *st, PyObject *Py_UNUSED(ignored))
{
    st->enabled = 0;
    store_drop_entries(st);
    Py_RETURN_NONE;
}

static PyObject *
Store_purge_expired(Store *st, PyObject *Py_UNUSED(ignored))
{
    int64_t now;
    long long purged = 0;
    if (!st->ttl_ns)
        return PyLong_FromLong(0);
    if (store_now(st, &now) < 0)
        return NULL;
    for (Entry *e = st->oldest, *next; e != NULL; e = next) {
        next = e->newer;
        if (e->deadline <= now) {
            if (store_remove(st, e) < 0)
                return NULL;
            purged++;
        }
    }
    st->expirations += (unsigned long long)purged;
    return PyLong_FromLongLong(purged);
}

static PyObject *
Store_counters(Store *st, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(KKKKn)", st->hits, st->misses, st->evictions, st->expirations, st->size);
}

static Py_ssize_t
Store_len(Store *st)
{
    return st->size;
}

static PyObject *
Store_get_maxsize(Store *st, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(st->maxsize);
}

static PyObject *
Store_get_enabled(Store *st, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(st->enabled);
}

static PyObject *
Store_get_ttl_ns(Store *st, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(st->ttl_ns);
}

static PyMethodDef Store_methods[] = {
    {"lookup", (PyCFunction)(void (*)(void))Store_lookup, METH_FASTCALL,
     "lookup(namespace, key) -> int | None: the count (refreshing its recency), or None; tallies a hit or miss."},
    {"store", (PyCFunction)(void (*)(void))Store_store, METH_FASTCALL,
     "store(namespace, key, count): insert or refresh; evicts the least recently used beyond maxsize."},
    {"lookup_many", (PyCFunction)(void (*)(void))Store_lookup_many, METH_FASTCALL,
     "lookup_many(namespace, keys) -> list[int | None]: lookup for each key, one clock reading."},
    {"store_many", (PyCFunction)(void (*)(void))Store_store_many, METH_FASTCALL,
     "store_many(namespace, keys, counts): store each; only the last maxsize are inserted."},
    {"clear", (PyCFunction)Store_clear, METH_NOARGS, "Remove every entry and zero every counter."},
    {"enable", (PyCFunction)Store_enable, METH_NOARGS, "Cache again."},
    {"disable", (PyCFunction)Store_disable, METH_NOARGS, "Stop caching and drop the entries (counters kept)."},
    {"purge_expired", (PyCFunction)Store_purge_expired, METH_NOARGS,
     "Remove expired entries now; returns how many (each counts as an expiration)."},
    {"counters", (PyCFunction)Store_counters, METH_NOARGS, "(hits, misses, evictions, expirations, size)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Store_getset[] = {
    {"maxsize", (getter)Store_get_maxsize, NULL, "Entries kept at most.", NULL},
    {"enabled", (getter)Store_get_enabled, NULL, "Whether lookups and stores take effect.", NULL},
    {"ttl_ns", (getter)Store_get_ttl_ns, NULL, "Lifetime of an entry in ns (0: none).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Store_as_sequence = {.sq_length = (lenfunc)Store_len};

static PyTypeObject StoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ctxbudget._core.Store",
    .tp_basicsize = sizeof(Store),
    .tp_dealloc = (destructor)Store_dealloc,
    .tp_as_sequence = &Store_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Store(maxsize, ttl_ns, timer=None, enabled=True): LRU + TTL map of token counts by "
              "(namespace, key), with exact statistics.",
    .tp_traverse = (traverseproc)Store_traverse,
    .tp_clear = (inquiry)Store_clear_refs,
    .tp_methods = Store_methods,
    .tp_getset = Store_getset,
    .tp_init = (initproc)Store_init,
    .tp_new = Store_new,
};

/* ---------------------------------------------------------------------------------------------------- */
/* Recorder                                                                                              */

typedef struct {
    PyObject_HEAD
    unsigned long long counts, hits, misses;
    double seconds;
    Py_ssize_t batch_size;
} Recorder;

static PyTypeObject RecorderType;

static PyObject *
Recorder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Recorder *rec = (Recorder *)type->tp_alloc(type, 0);
    if (rec != NULL)
        rec->batch_size = 1;
    return (PyObject *)rec;
}

static PyObject *
Recorder_record(Recorder *rec, PyObject *args)
{
    long long counts, hits, misses;
    double seconds;
    Py_ssize_t batch_size;
    if (!PyArg_ParseTuple(args, "LLLdn:record", &counts, &hits, &misses, &seconds, &batch_size))
        return NULL;
    if (counts < 0 || hits < 0 || misses < 0 || hits + misses > counts) {
        PyErr_SetString(PyExc_ValueError, "need counts >= hits + misses, all >= 0");
        return NULL;
    }
    rec->counts += (unsigned long long)counts;
    rec->hits += (unsigned long long)hits;
    rec->misses += (unsigned long long)misses;
    rec->seconds += seconds;
    rec->batch_size = batch_size;
    Py_RETURN_NONE;
}

static PyObject *
Recorder_totals(Recorder *rec, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(KKKdn)", rec->counts, rec->hits, rec->misses, rec->seconds, rec->batch_size);
}

static PyObject *
Recorder_reset(Recorder *rec, PyObject *Py_UNUSED(ignored))
{
    rec->counts = rec->hits = rec->misses = 0;
    rec->seconds = 0.0;
    rec->batch_size = 1;
    Py_RETURN_NONE;
}

static PyMethodDef Recorder_methods[] = {
    {"record", (PyCFunction)Recorder_record, METH_VARARGS,
     "record(counts, hits, misses, seconds, batch_size): counts texts, of which hits came from a cache and "
     "misses went to one."},
    {"totals", (PyCFunction)Recorder_totals, METH_NOARGS, "(counts, hits, misses, seconds, batch_size)"},
    {"reset", (PyCFunction)Recorder_reset, METH_NOARGS, "Zero everything."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ctxbudget._core.Recorder",
    .tp_basicsize = sizeof(Recorder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Recorder(): running totals of counts, cache hits and misses, and time spent.",
    .tp_methods = Recorder_methods,
    .tp_new = Recorder_new,
};

/* ---------------------------------------------------------------------------------------------------- */
/* count_route: the cache discipline for one short text.                                                 */
/*                                                                                                       */
/* A route entry is the tuple (namespace, encode, count):                                                */
/*   namespace  the cache namespace (tool, tokenizer id and version, mode)                               */
/*   encode     None, or a callable whose result's len() is the token count (minimum 1), for backends    */
/*              fast enough to call directly (tiktoken's core); a UnicodeError falls back to count       */
/*   count      text -> int: the backend's count (single-flight wrapped for slow backends)               */

static int
check_entry(PyObject *entry)
{
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3 ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(entry, 0))) {
        PyErr_SetString(PyExc_TypeError, "route entry must be a tuple (namespace: str, encode, count)");
        return -1;
    }
    return 0;
}

static int
tokenize(PyObject *entry, PyObject *text, int64_t *out)
{
    PyObject *encode = PyTuple_GET_ITEM(entry, 1);
    if (encode != Py_None) {
        PyObject *pieces = PyObject_CallOneArg(encode, text);
        if (pieces != NULL) {
            Py_ssize_t n = PyList_CheckExact(pieces) ? PyList_GET_SIZE(pieces) : PyObject_Length(pieces);
            Py_DECREF(pieces);
            if (n < 0)
                return -1;
            *out = n ? n : 1;
            return 0;
        }
        if (!PyErr_ExceptionMatches(PyExc_UnicodeError))
            return -1;
        PyErr_Clear(); /* e.g. lone surrogates: the backend's own count handles them */
    }
    PyObject *r = PyObject_CallOneArg(PyTuple_GET_ITEM(entry, 2), text);
    if (r == NULL)
        return -1;
    if (!PyLong_CheckExact(r) && PyIndex_Check(r)) /* int subclasses, numpy integers: their int value */
        Py_SETREF(r, PyNumber_Index(r));
    if (r == NULL)
        return -1;
    int rc = as_count(r, out);
    Py_DECREF(r);
    return rc;
}

/* 1 for a cache hit, 0 for a count, -1 on error. The caller holds references to every argument. */
static int
count_route(PyObject *entry, PyObject *text, PyObject *cache, Recorder *rec, int64_t *count)
{
    int64_t start = monotonic_ns(), now = start;
    Store *st = NULL;
    if (cache != Py_None) {
        if (!PyObject_TypeCheck(cache, &StoreType)) {
            PyErr_Format(PyExc_TypeError, "cache must be a TokenCountCache or None, not %.100s",
                         Py_TYPE(cache)->tp_name);
            return -1;
        }
        if (((Store *)cache)->enabled)
            st = (Store *)cache;
    }
    PyObject *ns = PyTuple_GET_ITEM(entry, 0);
    if (st != NULL && st->timer != NULL && st->ttl_ns) {
        if (store_now(st, &now) < 0)
            return -1;
        if (!st->enabled) /* disabled by another thread while the injected timer ran */
            st = NULL;
    }
    if (st != NULL) {
        int64_t n = store_lookup(st, ns, text, now);
        if (n == -2)
            return -1;
        if (n >= 0) {
            rec->counts++;
            rec->hits++;
            rec->batch_size = 1;
            rec->seconds += (double)(monotonic_ns() - start) * 1e-9;
            *count = n;
            return 1;
        }
    }
    if (tokenize(entry, text, count) < 0) /* may run Python code and release the GIL */
        return -1;
    rec->counts++;
    rec->batch_size = 1;
    if (st != NULL && st->enabled) {
        now = 0;
        if (st->ttl_ns && store_now(st, &now) < 0)
            return -1;
        if (st->enabled) {
            if (store_insert(st, ns, text, *count, now) < 0)
                return -1;
            rec->misses++;
        }
    }
    rec->seconds += (double)(monotonic_ns() - start) * 1e-9;
    return 0;
}

static PyObject *
core_count_route(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "count_route(entry, text, cache, recorder) takes 4 arguments");
        return NULL;
    }
    PyObject *entry = args[0], *text = args[1];
    if (check_entry(entry) < 0)
        return NULL;
    if (!PyUnicode_CheckExact(text)) {
        PyErr_Format(PyExc_TypeError, "text must be str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (PyUnicode_GET_LENGTH(text) > SHORT_TEXT_CHARS) {
        PyErr_SetString(PyExc_ValueError, "count_route takes texts up to SHORT_TEXT_CHARS; longer ones are digest-keyed");
        return NULL;
    }
    if (!PyObject_TypeCheck(args[3], &RecorderType)) {
        PyErr_SetString(PyExc_TypeError, "recorder must be a Recorder");
        return NULL;
    }
    int64_t n;
    int cached = count_route(entry, text, args[2], (Recorder *)args[3], &n);
    if (cached < 0)
        return NULL;
    return Py_BuildValue("(LO)", (long long)n, cached ? Py_True : Py_False);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Facade: TokenCounter.count_tokens                                                                     */

typedef struct {
    PyObject_HEAD
    PyObject *routes;   /* dict: tool name -> route entry; filled and cleared by the Python side */
    PyObject *cache;    /* Store or None: the process-wide cache */
    PyObject *recorder; /* Recorder */
    PyObject *fallback; /* the Python count_tokens, for every call not handled here */
} Facade;

static PyTypeObject FacadeType;

static int
Facade_init(Facade *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"routes", "recorder", "fallback", NULL};
    PyObject *routes, *recorder, *fallback;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!O:Facade", kwlist, &PyDict_Type, &routes, &RecorderType,
                                     &recorder, &fallback))
        return -1;
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "fallback must be callable");
        return -1;
    }
    Py_XSETREF(self->routes, Py_NewRef(routes));
    Py_XSETREF(self->recorder, Py_NewRef(recorder));
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    if (self->cache == NULL)
        self->cache = Py_NewRef(Py_None);
    return 0;
}

static int
Facade_traverse(Facade *self, visitproc visit, void *arg)
{
    Py_VISIT(self->routes);
    Py_VISIT(self->cache);
    Py_VISIT(self->recorder);
    Py_VISIT(self->fallback);
    return 0;
}

static int
Facade_clear_refs(Facade *self)
{
    Py_CLEAR(self->routes);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->recorder);
    Py_CLEAR(self->fallback);
    return 0;
}

static void
Facade_dealloc(Facade *self)
{
    PyObject_GC_UnTrack(self);
    Facade_clear_refs(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Facade_count_tokens(Facade *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (self->routes == NULL || self->fallback == NULL || self->recorder == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Facade.__init__ was not called");
        return NULL;
    }
    /* handled here: (text, tool_name[, True[, True]]) with exact str arguments and a short text */
    if ((kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) || nargs < 2 || nargs > 4)
        goto fallback;
    if ((nargs >= 3 && args[2] != Py_True) || (nargs == 4 && args[3] != Py_True))
        goto fallback;
    PyObject *text = args[0], *tool = args[1];
    if (!PyUnicode_CheckExact(text) || !PyUnicode_CheckExact(tool) || PyUnicode_GET_LENGTH(text) > SHORT_TEXT_CHARS)
        goto fallback;
    PyObject *entry = PyDict_GetItemWithError(self->routes, tool);
    if (entry == NULL) {
        if (PyErr_Occurred())
            return NULL;
        goto fallback; /* not resolved yet, or a route that must be re-checked on every call */
    }
    if (check_entry(entry) < 0)
        return NULL;
    /* the tokenizer may release the GIL: another thread may swap the cache or clear the routes meanwhile */
    Py_INCREF(entry);
    PyObject *cache = Py_NewRef(self->cache);
    PyObject *recorder = Py_NewRef(self->recorder);
    int64_t n;
    int rc = count_route(entry, text, cache, (Recorder *)recorder, &n);
    Py_DECREF(entry);
    Py_DECREF(cache);
    Py_DECREF(recorder);
    return rc < 0 ? NULL : PyLong_FromLongLong(n);
fallback:
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

static PyObject *
Facade_get_cache(Facade *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->cache ? self->cache : Py_None);
}

static int
Facade_set_cache(Facade *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL || (value != Py_None && !PyObject_TypeCheck(value, &StoreType))) {
        PyErr_SetString(PyExc_TypeError, "cache must be a TokenCountCache or None");
        return -1;
    }
    Py_XSETREF(self->cache, Py_NewRef(value));
    return 0;
}

static PyMethodDef Facade_methods[] = {
    {"count_tokens", (PyCFunction)(void (*)(void))Facade_count_tokens, METH_FASTCALL | METH_KEYWORDS,
     "count_tokens($self, text, tool_name, use_tokenizer=True, use_cache=True, *, cache=None)\n--\n\n"
     "Count tokens of text for tool_name through the process-wide cache."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Facade_getset[] = {
    {"cache", (getter)Facade_get_cache, (setter)Facade_set_cache, "The process-wide cache (or None).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject FacadeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ctxbudget._core.Facade",
    .tp_basicsize = sizeof(Facade),
    .tp_dealloc = (destructor)Facade_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Facade(routes, recorder, fallback): the compiled TokenCounter.count_tokens.",
    .tp_traverse = (traverseproc)Facade_traverse,
    .tp_clear = (inquiry)Facade_clear_refs,
    .tp_methods = Facade_methods,
    .tp_getset = Facade_getset,
    .tp_init = (initproc)Facade_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------------------------------------------- */

static PyMethodDef core_functions[] = {
    {"count_route", (PyCFunction)(void (*)(void))core_count_route, METH_FASTCALL,
     "count_route(entry, text, cache, recorder) -> (count, cached): count one short text through cache."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ctxbudget._core",
    .m_doc = "Compiled hot path of the token count cache (see _core.c).",
    .m_size = -1,
    .m_methods = core_functions,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    if (PyType_Ready(&EntryType) < 0 || PyType_Ready(&StoreType) < 0 || PyType_Ready(&RecorderType) < 0 ||
        PyType_Ready(&FacadeType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddType(m, &StoreType) < 0 || PyModule_AddType(m, &RecorderType) < 0 ||
        PyModule_AddType(m, &FacadeType) < 0 || PyModule_AddIntConstant(m, "SHORT_TEXT_CHARS", SHORT_TEXT_CHARS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
