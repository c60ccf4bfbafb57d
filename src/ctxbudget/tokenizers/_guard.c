/*
 * ctxbudget.tokenizers._guard: which texts the toktok accelerator may count (see accelerator.py).
 *
 * The guard is a set of code points (surrogates, code points unassigned in the Unicode version tiktoken was
 * verified with, and whatever the parity sweep found counted differently); a text holding any of them is
 * counted by tiktoken. The accelerator counts ~400 MiB/s, so the scan must cost far less than that: a bitmap
 * over all of Unicode (136 KiB) and a scan that stops early for one-byte strings. Python's re needs about a
 * second per MiB for a class of ~700 ranges, so there is no pure-Python guard: without this module the
 * accelerator is simply not used, and tiktoken counts everything (the same numbers, slower).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------- */
/* The accelerator's guard: code points whose texts only the reference tokenizer may count.             */
/* A bitmap over all of Unicode (136 KiB), set once from tokenizers/accelerator.py.                      */

#define UNICODE_SIZE 0x110000
static uint8_t *guard_bits = NULL;
static Py_UCS4 guard_min = UNICODE_SIZE; /* the smallest guarded code point: one-byte texts below it skip the
                                             scan, and blocks below it skip the bitmap */
/* A call whose texts hold SCAN_WITHOUT_GIL code points or more scans them without the GIL (it would stall the
   threads reading and decoding the next files). Such a scan takes the table and bumps this count while it
   still holds the GIL; set_reference_only (which holds the GIL) frees a replaced table only when no scan is
   running, and leaves it allocated otherwise. The count is atomic because it is lowered without the GIL. */
static atomic_int scans_without_gil = 0;
/* code points per call from which the GIL is released for the scan (below, releasing it costs more) */
#define SCAN_WITHOUT_GIL 65536

static PyObject *
guard_set_reference_only(PyObject *module, PyObject *ranges)
{
    PyObject *seq = PySequence_Fast(ranges, "ranges must be a sequence of (first, last) pairs");
    if (seq == NULL)
        return NULL;
    uint8_t *bits = PyMem_RawCalloc(UNICODE_SIZE / 8, 1);
    if (bits == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    Py_UCS4 lowest = UNICODE_SIZE;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        long first = 0, last = -1;
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(pair)) {
            PyErr_Format(PyExc_TypeError, "ranges[%zd] must be a (first, last) tuple, not %.100s", i,
                         Py_TYPE(pair)->tp_name);
            PyMem_RawFree(bits);
            Py_DECREF(seq);
            return NULL;
        }
        if (!PyArg_ParseTuple(pair, "ll:range", &first, &last) || first < 0 ||
            last < first || last >= UNICODE_SIZE) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "bad code point range %ld..%ld", first, last);
            PyMem_RawFree(bits);
            Py_DECREF(seq);
            return NULL;
        }
        for (long cp = first; cp <= last; cp++)
            bits[cp >> 3] |= (uint8_t)(1u << (cp & 7));
        if ((Py_UCS4)first < lowest)
            lowest = (Py_UCS4)first;
    }
    Py_DECREF(seq);
    if (atomic_load(&scans_without_gil) == 0)
        PyMem_RawFree(guard_bits);
    guard_bits = bits;
    guard_min = lowest;
    Py_RETURN_NONE;
}

#define GUARDED(bits, lowest, ch) ((ch) >= (lowest) && ((bits)[(ch) >> 3] >> ((ch) & 7)) & 1)

/* One loop per string kind: reading through PyUnicode_READ's switch per character halves the speed. Nearly all
   characters of real text lie below the smallest guarded code point, so a block is first ORed together (a loop
   without an early exit, which GCC >= 12 and clang vectorise at -O2): when the OR is below it, so is every
   character, and only the other blocks are looked up in the bitmap. Reads only the str's own fields and buffer
   (no Python API), so it may run without the GIL while the str is alive. */
#define SCAN_BLOCK 64
#define DEFINE_SCAN(name, char_type)                                                                          \
    static int name(const uint8_t *bits, Py_UCS4 lowest, const char_type *chars, Py_ssize_t n)                \
    {                                                                                                          \
        Py_ssize_t i = 0;                                                                                      \
        for (; i + SCAN_BLOCK <= n; i += SCAN_BLOCK) {                                                         \
            char_type any = 0;                                                                                 \
            for (int j = 0; j < SCAN_BLOCK; j++)                                                               \
                any |= chars[i + j];                                                                           \
            if ((Py_UCS4)any < lowest)                                                                         \
                continue;                                                                                      \
            for (int j = 0; j < SCAN_BLOCK; j++)                                                               \
                if (GUARDED(bits, lowest, (Py_UCS4)chars[i + j]))                                              \
                    return 1;                                                                                  \
        }                                                                                                      \
        for (; i < n; i++)                                                                                     \
            if (GUARDED(bits, lowest, (Py_UCS4)chars[i]))                                                      \
                return 1;                                                                                      \
        return 0;                                                                                              \
    }
DEFINE_SCAN(scan_ucs1, Py_UCS1)
DEFINE_SCAN(scan_ucs2, Py_UCS2)
DEFINE_SCAN(scan_ucs4, Py_UCS4)

static int
scan(const uint8_t *bits, Py_UCS4 lowest, PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    if (kind == PyUnicode_1BYTE_KIND)
        return lowest > 0xFF ? 0 : scan_ucs1(bits, lowest, data, n);
    if (kind == PyUnicode_2BYTE_KIND)
        return scan_ucs2(bits, lowest, data, n);
    return scan_ucs4(bits, lowest, data, n);
}

static PyObject *
guard_reference_only(PyObject *module, PyObject *texts)
{
    if (!PyList_CheckExact(texts)) {
        PyErr_SetString(PyExc_TypeError, "reference_only takes a list of str");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(texts), total = 0;
    /* our own references: the texts (immutable) stay alive even if another thread empties the caller's list
       while the scan runs without the GIL */
    PyObject **items = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(PyObject *));
    char *hits = PyMem_Calloc((size_t)(n ? n : 1), 1);
    PyObject *out = NULL;
    Py_ssize_t held = 0;
    const uint8_t *bits = guard_bits;
    Py_UCS4 lowest = guard_min;
    if (items == NULL || hits == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; held < n; held++) {
        PyObject *text = PyList_GET_ITEM(texts, held);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "texts[%zd] must be str, not %.100s", held, Py_TYPE(text)->tp_name);
            goto done;
        }
        Py_INCREF(text);
        items[held] = text;
        total += PyUnicode_GET_LENGTH(text);
    }
    if (bits == NULL) {
        memset(hits, 1, (size_t)n); /* no table: nothing is cleared for the accelerator */
    } else if (total < SCAN_WITHOUT_GIL) {
        for (Py_ssize_t i = 0; i < n; i++)
            hits[i] = (char)scan(bits, lowest, items[i]);
    } else {
        atomic_fetch_add(&scans_without_gil, 1);
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++)
            hits[i] = (char)scan(bits, lowest, items[i]);
        Py_END_ALLOW_THREADS
        atomic_fetch_sub(&scans_without_gil, 1);
    }
    out = PyList_New(0);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        if (!hits[i])
            continue;
        PyObject *index = PyLong_FromSsize_t(i);
        if (index == NULL || PyList_Append(out, index) < 0)
            Py_CLEAR(out);
        Py_XDECREF(index);
    }
done:
    for (Py_ssize_t i = 0; i < held; i++)
        Py_DECREF(items[i]);
    PyMem_Free(items);
    PyMem_Free(hits);
    return out;
}

static PyMethodDef guard_functions[] = {
    {"set_reference_only", (PyCFunction)guard_set_reference_only, METH_O,
     "set_reference_only(ranges): the inclusive code point ranges that keep a text away from the accelerator."},
    {"reference_only", (PyCFunction)guard_reference_only, METH_O,
     "reference_only(texts: list[str]) -> list[int]: indices of the texts holding a guarded code point "
     "(all of them before set_reference_only)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef guard_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ctxbudget.tokenizers._guard",
    .m_doc = "The accelerator's guard: code points whose texts only the reference tokenizer may count.",
    .m_size = -1,
    .m_methods = guard_functions,
};

PyMODINIT_FUNC
PyInit__guard(void)
{
    return PyModule_Create(&guard_module);
}
