/*
 * ctxbudget.tokenizers._claude_core: ctok's Claude count (marked stream + min-cost tiling) in C.
 *
 * A port of ctok 1.3.0's normalize.stream_norm and engine.tile for the count only (claude_fast.py drives it;
 * it is used only on that release with its data files' SHA-256, claude_verified.py). What stays in Python:
 * ctok's own nfc() before the call, and every per-code-point fact (class, case, border kinds, what a lone
 * character costs), which claude_fast.py asks ctok's own functions for and hands over with set_char /
 * Model.set_floor before a text holding that code point is counted. The counting loop reads only those
 * tables, the trie and the text, so it runs without the GIL and two threads count two pieces at once.
 * Comments name the ctok function each part mirrors.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define UNICODE_SIZE 0x110000

/* The marker glyphs (ctok.constants) and the private-use escapes literal glyphs in text become. */
#define BOW 0xFDD0u
#define EOW 0xFDD1u
#define SHIFT 0xFDD3u
#define CAPS 0xFDD4u
#define GLYPH_FIRST 0xFDD0u
#define GLYPH_LAST 0xFDD4u
#define ESCAPE_FIRST 0xE000u

/* Per-code-point facts (set_char), bit layout shared with claude_fast.py. */
enum { WORDY = 0, HARD = 1, DIGIT = 2, PUNCT = 3, SPACE = 4, STRAY = 5 /* a run class only */ };
#define P_CLASS 0x7u
#define P_STRAY (1u << 3)          /* _stray_mark */
#define P_MLP (1u << 4)            /* _marks_like_punct */
#define P_KIND_SHIFT 5             /* _hard_kind: 0 letter, 1 number, 2 punct */
#define P_KIND (3u << P_KIND_SHIFT)
#define P_DIGIT_BORDER (1u << 7)   /* _digit_border */
#define P_CAT_SHIFT 8              /* general category: 0 other, 1 Nd, 2 No */
#define P_CAT (3u << P_CAT_SHIFT)
#define P_UPPER (1u << 10)         /* _is_upper */
#define P_LOWER (1u << 11)         /* _is_lower */
#define P_UNLOWERABLE (1u << 12)   /* mark_case's `unlowerable` test for one character */
#define P_KNOWN (1u << 13)

static uint32_t *props = NULL;     /* [UNICODE_SIZE], 0 = not set yet */
static uint32_t *lowers = NULL;    /* [UNICODE_SIZE], ctok.normalize._lower of a single code point */

#define ERR_UNKNOWN (-1)
#define ERR_MEMORY (-2)

/* ---------------------------------------------------------------------------------------------------- */
/* The reverse trie (engine.ReverseTrie): node 0 is the root, children in one open-addressing table.       */

typedef struct {
    PyObject_HEAD
    uint64_t *keys;      /* (parent << 21 | code point) + 1; 0 = empty slot */
    uint32_t *values;    /* child node */
    size_t mask;
    uint8_t *terminal;   /* per node */
    uint32_t nodes;
    uint32_t max_len;    /* longest piece: how far back the DP looks */
    uint8_t *floor;      /* [UNICODE_SIZE]: unit_floor of a character no piece covers; 0 = not set yet */
    int allcaps_min;     /* 0: no ⟨caps⟩ (meta allcaps_min null) */
    int frame_bow;
} Model;

static inline size_t
slot_of(uint64_t key, size_t mask)
{
    key ^= key >> 31;
    key *= 0x9E3779B97F4A7C15ull;
    return (size_t)(key >> 17) & mask;
}

static inline uint32_t
child(const Model *m, uint32_t node, uint32_t cp)
{
    uint64_t key = (((uint64_t)node << 21) | cp) + 1;
    size_t i = slot_of(key, m->mask);
    for (;;) {
        uint64_t k = m->keys[i];
        if (k == key)
            return m->values[i];
        if (k == 0)
            return 0;
        i = (i + 1) & m->mask;
    }
}

static int
add_piece(Model *m, const Py_UCS4 *piece, Py_ssize_t n)
{
    uint32_t node = 0;
    for (Py_ssize_t p = n - 1; p >= 0; p--) {
        uint64_t key = (((uint64_t)node << 21) | piece[p]) + 1;
        size_t i = slot_of(key, m->mask);
        while (m->keys[i] != 0 && m->keys[i] != key)
            i = (i + 1) & m->mask;
        if (m->keys[i] == 0) {
            m->keys[i] = key;
            m->values[i] = m->nodes++;
        }
        node = m->values[i];
    }
    m->terminal[node] = 1;
    if ((uint32_t)n > m->max_len)
        m->max_len = (uint32_t)n;
    return 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The min-cost tiling (engine.min_vocab_tile), cost only: every piece costs 1, so ties do not matter, and  */
/* best[] is needed only max_len back (a ring). unit == NULL prices an uncovered character at 1            */
/* (engine.frame_tail's floor).                                                                          */

static inline int
is_marker(uint32_t c)
{
    return c == BOW || c == EOW || c == SHIFT || c == CAPS;
}

static int64_t
tile(const Model *m, const uint32_t *s, size_t n, const uint8_t *unit)
{
    size_t ring = 1;
    while (ring < (size_t)m->max_len + 1)
        ring <<= 1;
    int64_t *best = PyMem_RawMalloc(ring * sizeof(int64_t));
    if (best == NULL)
        return ERR_MEMORY;
    size_t rm = ring - 1;
    best[0] = 0;
    for (size_t end = 1; end <= n; end++) {
        uint32_t c = s[end - 1];
        uint32_t node = child(m, 0, c);
        int64_t b;
        if (node != 0 && m->terminal[node])
            b = best[(end - 1) & rm] + 1;
        else if (unit == NULL || is_marker(c))
            b = best[(end - 1) & rm] + 1;
        else {
            uint8_t u = unit[c];
            if (u == 0) {
                PyMem_RawFree(best);
                return ERR_UNKNOWN;
            }
            b = best[(end - 1) & rm] + u;
        }
        if (node != 0) {
            for (size_t start = end - 1; start-- > 0;) {
                node = child(m, node, s[start]);
                if (node == 0)
                    break;
                if (m->terminal[node] && best[start & rm] + 1 < b)
                    b = best[start & rm] + 1;
            }
        }
        best[end & rm] = b;
    }
    int64_t total = best[n & rm];
    PyMem_RawFree(best);
    return total;
}

/* engine.frame_tail: a content-final run of k newlines costs the tiling of k + 2 newlines, less the frame's
   own last token. */
static int64_t
frame_tail(const Model *m, size_t k)
{
    if (k == 0)
        return 0;
    uint32_t *run = PyMem_RawMalloc((k + 2) * sizeof(uint32_t));
    if (run == NULL)
        return ERR_MEMORY;
    for (size_t i = 0; i < k + 2; i++)
        run[i] = '\n';
    int64_t cost = tile(m, run, k + 2, NULL);
    PyMem_RawFree(run);
    return cost < 0 ? cost : cost - 1;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The marked stream (normalize.stream_norm) over the normalized text t[0..n).                            */

typedef struct {
    size_t begin, end;
    int cls;
} Run;

typedef struct {
    const uint32_t *t;  /* the escaped text */
    Run *runs;
    size_t n_runs;
    int frame_bow;
} Ctx;

static inline uint32_t prop(uint32_t c) { return props[c]; }
static inline int cls_of(uint32_t c) { return (int)(prop(c) & P_CLASS); }
static inline int stray(uint32_t c) { return (prop(c) & P_STRAY) != 0; }
static inline int kind_of(uint32_t c) { return (int)((prop(c) & P_KIND) >> P_KIND_SHIFT); }
static inline int cat_of(uint32_t c) { return (int)((prop(c) & P_CAT) >> P_CAT_SHIFT); }
static inline int upper(uint32_t c) { return (prop(c) & P_UPPER) != 0; }
static inline int selector(uint32_t c) { return c >= 0xFE00 && c <= 0xFE0F; }

static inline size_t run_len(const Run *r) { return r->end - r->begin; }

/* _digit_run: one character category, Nd or No, over the whole run */
static int
digit_run(const Ctx *x, const Run *r)
{
    int cat = cat_of(x->t[r->begin]);
    if (cat == 0)
        return 0;
    for (size_t i = r->begin + 1; i < r->end; i++)
        if (cat_of(x->t[i]) != cat)
            return 0;
    return 1;
}

static int digit_bow(const Ctx *x, const Run *r) { return digit_run(x, r) && (prop(x->t[r->begin]) & P_DIGIT_BORDER); }
static int digit_eow(const Ctx *x, const Run *r) { return digit_run(x, r) && (prop(x->t[r->end - 1]) & P_DIGIT_BORDER); }

static int
hard_bow(const Ctx *x, const Run *r)
{
    uint32_t c = x->t[r->begin];
    return selector(c) || (prop(c) & P_MLP);
}

static int
hard_eow(const Ctx *x, const Run *r)
{
    uint32_t c = x->t[r->end - 1];
    return selector(c) || (prop(c) & P_MLP);
}

static int
is_apostrophe(const Ctx *x, const Run *r)
{
    return run_len(r) == 1 && x->t[r->begin] == '\'';
}

/* _opens_word */
static int
opens_word(const Ctx *x, size_t i)
{
    return is_apostrophe(x, &x->runs[i]) && i + 1 < x->n_runs &&
           (x->runs[i + 1].cls == WORDY || x->runs[i + 1].cls == STRAY);
}

/* _takes_right_border */
static int
takes_right_border(const Ctx *x, const Run *r)
{
    return r->cls == PUNCT || hard_eow(x, r) ||
           ((r->cls == DIGIT || r->cls == HARD) && digit_run(x, r) && digit_eow(x, r));
}

/* CONTRACTION_SUFFIXES */
static int
is_contraction_suffix(const Ctx *x, const Run *r)
{
    static const char *suffixes[] = {"s", "t", "d", "m", "ll", "re", "ve"};
    size_t n = run_len(r);
    for (size_t k = 0; k < sizeof(suffixes) / sizeof(suffixes[0]); k++) {
        if (strlen(suffixes[k]) != n)
            continue;
        size_t i = 0;
        while (i < n && x->t[r->begin + i] == (uint32_t)(unsigned char)suffixes[k][i])
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

/* _contraction_seam */
static int
contraction_seam(const Ctx *x, size_t i)
{
    if (i == 0 || !is_contraction_suffix(x, &x->runs[i]))
        return 0;
    const Run *prev = &x->runs[i - 1];
    if (prev->cls != PUNCT || !is_apostrophe(x, prev))
        return 0;
    return i < 2 || !takes_right_border(x, &x->runs[i - 2]);
}

/* borders_space */
static int
borders_space(const Ctx *x, size_t i, int side)
{
    if (side < 0 && i == 0)
        return x->frame_bow;
    size_t j = side < 0 ? i - 1 : i + 1;
    if (j >= x->n_runs)
        return 0;
    const Run *r = &x->runs[j];
    if (r->cls != SPACE)
        return 0;
    if (side < 0)
        return x->t[r->end - 1] == ' ';
    return x->t[r->begin] == ' ' && !(run_len(r) >= 2 && x->t[r->begin + 1] == ' ');
}

/* _runs: maximal class runs, stray-mark runs, HARD runs split by _hard_kind (selectors ride along). */
static size_t
split_runs(const uint32_t *t, size_t begin, size_t end, Run *runs)
{
    size_t n = 0;
    if (begin >= end)
        return 0;
    int cur = cls_of(t[begin]);
    if (cur == WORDY && stray(t[begin]))
        cur = STRAY;
    size_t start = begin;
    for (size_t i = begin + 1; i < end; i++) {
        uint32_t ch = t[i];
        int c = cls_of(ch);
        if (cur == STRAY && c == WORDY && stray(ch))
            continue;
        if (c == cur)
            continue;
        runs[n++] = (Run){start, i, cur};
        start = i;
        cur = (c == WORDY && stray(ch) && cur != WORDY) ? STRAY : c;
    }
    runs[n++] = (Run){start, end, cur};
    return n;
}

static size_t
split_hard(const uint32_t *t, const Run *in, size_t n_in, Run *out)
{
    size_t n = 0;
    for (size_t r = 0; r < n_in; r++) {
        if (in[r].cls != HARD || run_len(&in[r]) == 1) {
            out[n++] = in[r];
            continue;
        }
        size_t start = in[r].begin;
        int kind = kind_of(t[start]);
        for (size_t i = start + 1; i < in[r].end; i++) {
            uint32_t ch = t[i];
            if (selector(ch) || kind_of(ch) == kind)
                continue;
            out[n++] = (Run){start, i, HARD};
            start = i;
            kind = kind_of(ch);
        }
        out[n++] = (Run){start, in[r].end, HARD};
    }
    return n;
}

/* _span_is_upper, the İ / ẞ branches and the rest of mark_case, writing the marked span to o. */
static uint32_t *
emit_word(const Model *m, const Ctx *x, size_t i, uint32_t *o)
{
    const Run *r = &x->runs[i];
    const uint32_t *s = x->t + r->begin;
    size_t n = run_len(r);
    int fused = i > 0 && x->runs[i - 1].cls == STRAY;
    int bow = !(fused || contraction_seam(x, i));
    enum { LITERAL, SHIFTED, CAPSED, DOTTED } form = LITERAL;

    if (!fused) {
        int has_sharp_s = 0, has_dotted_i = 0;
        for (size_t k = 0; k < n; k++) {
            has_sharp_s |= s[k] == 0x1E9E;
            has_dotted_i |= s[k] == 0x130;
        }
        if (has_sharp_s)
            form = LITERAL;
        else if (has_dotted_i) {
            int tail_upper = 0;
            for (size_t k = 1; k < n; k++)
                tail_upper |= s[k] != 0x130 && upper(s[k]);
            form = (upper(s[0]) && s[0] != 0x130 && !tail_upper) ? DOTTED : LITERAL;
        }
        else {
            int unlowerable = 0, cased = 0, all_upper = 1, tail_upper = 0;
            for (size_t k = 0; k < n; k++) {
                uint32_t p = prop(s[k]);
                unlowerable |= (p & P_UNLOWERABLE) != 0;
                if (p & (P_UPPER | P_LOWER)) {
                    cased = 1;
                    all_upper &= (p & P_UPPER) != 0;
                }
                if (k > 0)
                    tail_upper |= (p & P_UPPER) != 0;
            }
            if (m->allcaps_min > 0 && cased && all_upper && n >= (size_t)m->allcaps_min && !unlowerable)
                form = CAPSED;
            else if (lowers[s[0]] == s[0])
                form = LITERAL;
            else if (upper(s[0]) && !tail_upper)
                form = SHIFTED;
        }
    }
    if (form == CAPSED)
        *o++ = CAPS;
    else if (form != LITERAL)
        *o++ = SHIFT;
    if (bow)
        *o++ = BOW;
    for (size_t k = 0; k < n; k++) {
        uint32_t c = s[k];
        if (form == LITERAL || (form == DOTTED && c == 0x130))
            *o++ = c;
        else {
            uint32_t low = lowers[c];
            *o++ = (form == CAPSED && low == 0x3C2) ? 0x3C3 : low;  /* the ⟨caps⟩ body lowers Σ to σ */
        }
    }
    *o++ = EOW;
    return o;
}

static uint32_t *
emit_run(const Model *m, const Ctx *x, size_t i, uint32_t *o)
{
    const Run *r = &x->runs[i];
    int cls = r->cls;
    int pre = 0, post = 0;
    if (cls == WORDY)
        return emit_word(m, x, i, o);
    if (cls == STRAY) {
        pre = 1;
        post = !(i + 1 < x->n_runs && x->runs[i + 1].cls == WORDY);
    }
    else if (cls == PUNCT || hard_bow(x, r) || hard_eow(x, r)) {
        pre = borders_space(x, i, -1) && !opens_word(x, i) && (cls == PUNCT || hard_bow(x, r));
        post = borders_space(x, i, +1) && (cls == PUNCT || hard_eow(x, r));
    }
    else if ((cls == DIGIT || cls == HARD) && digit_run(x, r)) {
        pre = digit_bow(x, r) && borders_space(x, i, -1);
        post = digit_eow(x, r) && borders_space(x, i, +1);
    }
    if (pre)
        *o++ = BOW;
    memcpy(o, x->t + r->begin, run_len(r) * sizeof(uint32_t));
    o += run_len(r);
    if (post)
        *o++ = EOW;
    return o;
}

/* SEAM_RE.sub: "(.)⟨eow⟩ ([⟨shift⟩⟨caps⟩]*)⟨bow⟩" loses its space; matches do not overlap. In place. */
static size_t
seams(uint32_t *s, size_t n)
{
    size_t w = 0;
    size_t next_free = 0;  /* where a match's (.) may start: past the previous match */
    for (size_t r = 0; r < n; r++) {
        if (s[r] == EOW && r >= 1 && r - 1 >= next_free && s[r - 1] != '\n' && r + 1 < n && s[r + 1] == ' ') {
            size_t k = r + 2;
            while (k < n && (s[k] == SHIFT || s[k] == CAPS))
                k++;
            if (k < n && s[k] == BOW) {
                s[w++] = EOW;
                for (size_t q = r + 2; q <= k; q++)
                    s[w++] = s[q];
                next_free = k + 1;
                r = k;
                continue;
            }
        }
        s[w++] = s[r];
    }
    return w;
}

/* engine.tile's count: stream tiles plus the frame tail. text: ctok.normalize.nfc's output. */
static int64_t
count_normalized(const Model *m, const void *data, int kind, size_t len, int raw_head_space)
{
    uint32_t *t = PyMem_RawMalloc((len ? len : 1) * sizeof(uint32_t));
    if (t == NULL)
        return ERR_MEMORY;
    for (size_t i = 0; i < len; i++) {
        uint32_t c = PyUnicode_READ(kind, data, i);
        if (c >= GLYPH_FIRST && c <= GLYPH_LAST)
            c = ESCAPE_FIRST + (c - GLYPH_FIRST);  /* LITERAL_MARKER_ESCAPE_TABLE */
        if (!(props[c] & P_KNOWN)) {
            PyMem_RawFree(t);
            return ERR_UNKNOWN;
        }
        t[i] = c;
    }
    size_t end = len;
    while (end > 0 && t[end - 1] == '\n')
        end--;
    size_t n_tail = len - end;
    size_t begin = 0;
    if (m->frame_bow && raw_head_space && end >= 1 && t[0] == ' ' && !(end >= 2 && t[1] == ' '))
        begin = 1;

    int64_t total = 0;
    Run *raw = PyMem_RawMalloc(((end - begin) + 1) * sizeof(Run));
    Run *runs = PyMem_RawMalloc((2 * (end - begin) + 1) * sizeof(Run));
    uint32_t *out = PyMem_RawMalloc((4 * (end - begin) + 4) * sizeof(uint32_t));
    if (raw == NULL || runs == NULL || out == NULL) {
        total = ERR_MEMORY;
        goto done;
    }
    Ctx x = {t, runs, 0, m->frame_bow};
    x.n_runs = split_hard(t, raw, split_runs(t, begin, end, raw), runs);
    uint32_t *o = out;
    if (x.n_runs == 0) {
        if (m->frame_bow)
            *o++ = BOW;  /* content that normalizes away still pays for the frame's ⟨bow⟩ */
    }
    else {
        const Run *first = &runs[0];
        int head_quote = opens_word(&x, 0);
        int own_bow = !head_quote &&
                      (first->cls == WORDY || first->cls == PUNCT || first->cls == STRAY || hard_bow(&x, first) ||
                       ((first->cls == DIGIT || first->cls == HARD) && digit_bow(&x, first)) ||
                       (first->cls == SPACE && t[first->begin] == ' '));
        if (!own_bow && m->frame_bow)
            *o++ = head_quote ? ' ' : BOW;
        for (size_t i = 0; i < x.n_runs; i++)
            o = emit_run(m, &x, i, o);
    }
    size_t n_out = seams(out, (size_t)(o - out));
    total = tile(m, out, n_out, m->floor);
    if (total >= 0) {
        int64_t tail = frame_tail(m, n_tail);
        total = tail < 0 ? tail : total + tail;
    }
done:
    PyMem_RawFree(out);
    PyMem_RawFree(runs);
    PyMem_RawFree(raw);
    PyMem_RawFree(t);
    return total;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Python bindings                                                                                       */

/* Back to the uninitialized state, so that a failed __init__ leaves no half-built model for count to use. */
static void
free_tables(Model *m)
{
    PyMem_RawFree(m->keys);
    PyMem_RawFree(m->values);
    PyMem_RawFree(m->terminal);
    PyMem_RawFree(m->floor);
    m->keys = NULL;
    m->values = NULL;
    m->terminal = NULL;
    m->floor = NULL;
}

static void
model_dealloc(Model *m)
{
    free_tables(m);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static int
model_init(Model *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pieces", "allcaps_min", "frame_bow", NULL};
    PyObject *pieces;
    int allcaps_min, frame_bow;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Oip:Model", kwlist, &pieces, &allcaps_min, &frame_bow))
        return -1;
    if (m->keys != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Model is already initialized");
        return -1;
    }
    PyObject *seq = PySequence_Fast(pieces, "pieces must be a sequence of str");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    size_t chars = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(p) || PyUnicode_GET_LENGTH(p) == 0) {
            PyErr_SetString(PyExc_TypeError, "pieces must be non-empty str");
            Py_DECREF(seq);
            return -1;
        }
        chars += (size_t)PyUnicode_GET_LENGTH(p);
    }
    if (chars >= (1u << 31)) {
        PyErr_SetString(PyExc_ValueError, "vocabulary too large");
        Py_DECREF(seq);
        return -1;
    }
    size_t cap = 1024;
    while (cap < 2 * chars + 2)
        cap <<= 1;
    m->mask = cap - 1;
    m->keys = PyMem_RawCalloc(cap, sizeof(uint64_t));
    m->values = PyMem_RawCalloc(cap, sizeof(uint32_t));
    m->terminal = PyMem_RawCalloc(chars + 1, 1);
    m->floor = PyMem_RawCalloc(UNICODE_SIZE, 1);
    if (m->keys == NULL || m->values == NULL || m->terminal == NULL || m->floor == NULL) {
        free_tables(m);
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    m->nodes = 1;
    m->allcaps_min = allcaps_min > 0 ? allcaps_min : 0;
    m->frame_bow = frame_bow;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 *buf = PyUnicode_AsUCS4Copy(PySequence_Fast_GET_ITEM(seq, i));
        if (buf == NULL) {
            free_tables(m);
            Py_DECREF(seq);
            return -1;
        }
        add_piece(m, buf, PyUnicode_GET_LENGTH(PySequence_Fast_GET_ITEM(seq, i)));
        PyMem_Free(buf);
    }
    Py_DECREF(seq);
    return 0;
}

static int
check_cp(long cp)
{
    if (cp < 0 || cp >= UNICODE_SIZE) {
        PyErr_Format(PyExc_ValueError, "not a code point: %ld", cp);
        return -1;
    }
    return 0;
}

static PyObject *
model_set_floor(Model *m, PyObject *args)
{
    long cp, cost;
    if (!PyArg_ParseTuple(args, "ll:set_floor", &cp, &cost) || check_cp(cp) < 0)
        return NULL;
    if (m->floor == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Model is not initialized");
        return NULL;
    }
    if (cost < 1 || cost > 255) {
        PyErr_Format(PyExc_ValueError, "floor cost out of range: %ld", cost);
        return NULL;
    }
    m->floor[cp] = (uint8_t)cost;
    Py_RETURN_NONE;
}

static PyObject *
model_count(Model *m, PyObject *args)
{
    PyObject *text;
    int raw_head_space;
    if (!PyArg_ParseTuple(args, "Up:count", &text, &raw_head_space))
        return NULL;
    if (m->keys == NULL || m->values == NULL || m->terminal == NULL || m->floor == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Model is not initialized");
        return NULL;
    }
    /* text is immutable and referenced by our caller's frame, so its buffer outlives the GIL-free count */
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    size_t len = (size_t)PyUnicode_GET_LENGTH(text);
    int64_t total;
    Py_BEGIN_ALLOW_THREADS
    total = count_normalized(m, data, kind, len, raw_head_space);
    Py_END_ALLOW_THREADS
    if (total == ERR_MEMORY)
        return PyErr_NoMemory();
    if (total < 0) {
        PyErr_SetString(PyExc_ValueError, "a code point of the text has no facts or floor cost set");
        return NULL;
    }
    return PyLong_FromLongLong(total);
}

static PyMethodDef model_methods[] = {
    {"set_floor", (PyCFunction)model_set_floor, METH_VARARGS, "set_floor(cp, cost): unit_floor of cp."},
    {"count", (PyCFunction)model_count, METH_VARARGS,
     "count(normalized, raw_head_space): stream tiles plus frame tail (token_count minus the frame)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ctxbudget.tokenizers._claude_core.Model",
    .tp_basicsize = sizeof(Model),
    .tp_dealloc = (destructor)model_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One family's reverse trie, floor costs and scalars.",
    .tp_methods = model_methods,
    .tp_init = (initproc)model_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *
set_char(PyObject *module, PyObject *args)
{
    long cp, facts, lower;
    if (!PyArg_ParseTuple(args, "lll:set_char", &cp, &facts, &lower) || check_cp(cp) < 0 || check_cp(lower) < 0)
        return NULL;
    if (facts < 0 || facts >= (long)P_KNOWN || (facts & P_CLASS) > SPACE) {
        PyErr_Format(PyExc_ValueError, "bad facts: %ld", facts);
        return NULL;
    }
    lowers[cp] = (uint32_t)lower;
    props[cp] = (uint32_t)facts | P_KNOWN;  /* last: a counting thread checks KNOWN before reading the rest */
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"set_char", set_char, METH_VARARGS, "set_char(cp, facts, lower): the per-code-point facts of cp."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_claude_core", "ctok's Claude count in C (see claude_fast.py).", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__claude_core(void)
{
    if (props == NULL) {
        props = PyMem_RawCalloc(UNICODE_SIZE, sizeof(uint32_t));
        lowers = PyMem_RawCalloc(UNICODE_SIZE, sizeof(uint32_t));
        if (props == NULL || lowers == NULL)
            return PyErr_NoMemory();
    }
    if (PyType_Ready(&ModelType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    Py_INCREF(&ModelType);
    if (PyModule_AddObject(module, "Model", (PyObject *)&ModelType) < 0) {
        Py_DECREF(&ModelType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
