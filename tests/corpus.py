"""A deterministic corpus of hard tokenizer inputs (stdlib only).

``hard_corpus(seed)`` returns the same list of strings for the same seed on every run and platform: many
scripts, emoji sequences, combining marks, odd whitespace and line endings, very long runs, base64, digits,
code, URLs, JSON, special-token text, contractions, control characters, lone surrogates, private-use
characters and random code points. Tests slice it by index, so keep generation order stable.
"""

from __future__ import annotations

import base64
import json
import random
from functools import lru_cache

# --- alphabets -----------------------------------------------------------------------------------------


def _chars(*ranges: tuple[int, int]) -> str:
    return "".join(chr(cp) for lo, hi in ranges for cp in range(lo, hi + 1))


SCRIPTS: dict[str, str] = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "latin_accents": "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿœšžßÀÉÎÕÜŁłŒŠŽĞğİıŞşĂăȘșȚț",
    "cyrillic": _chars((0x0410, 0x044F)) + "ёЁіїєґ",
    "greek": _chars((0x0391, 0x03A1), (0x03A3, 0x03A9), (0x03B1, 0x03C9)) + "άέήίόύώϊϋΐΰ",
    "arabic": _chars((0x0621, 0x063A), (0x0641, 0x064A)) + "\u064b\u064e\u064f\u0650\u0651\u0652",
    "hebrew": _chars((0x05D0, 0x05EA)) + "\u05b0\u05b4\u05b7\u05bc",
    "devanagari": _chars((0x0905, 0x0939)) + "\u093e\u093f\u0940\u0941\u0947\u094b\u094d\u0902",
    "thai": _chars((0x0E01, 0x0E2E), (0x0E30, 0x0E3A), (0x0E40, 0x0E4E)),
    "chinese": _chars((0x4E00, 0x4FFF)) + "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
    "japanese": _chars((0x3041, 0x3096), (0x30A1, 0x30FA)) + "日本語東京漢字学校先生",
    "korean": _chars((0xAC00, 0xAD00)) + "한국어서울안녕하세요감사합니다",
    "hangul_jamo": _chars((0x1100, 0x1112), (0x1161, 0x1175), (0x11A8, 0x11C2), (0x3131, 0x318E)),
}

SEPARATORS: dict[str, str] = {
    "chinese": "",
    "japanese": "",
    "thai": "",
}

PUNCT = ".,;:!?…—–-()[]{}«»“”„‘’'\"/\\|@#$%^&*+=<>~`、。「」《》؟،"

EMOJI_BASE = [
    "😀", "😂", "🤣", "😍", "🥲", "🤖", "👍", "👋", "🙏", "🔥", "✨", "🎉", "❤️", "💔", "🧠", "🐍", "🦀",
    "🚀", "🌍", "☕", "⚡", "✅", "❌", "⭐", "🍕", "🏳️", "🏴", "©️", "®️", "#️⃣", "1️⃣", "*️⃣",
]
SKIN_TONES = ["\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff"]
ZWJ_SEQUENCES = [
    "👨\u200d👩\u200d👧\u200d👦",  # family
    "👩\u200d💻",  # woman technologist
    "🧑\u200d🚀",
    "👨🏽\u200d🚒",
    "🏳️\u200d🌈",  # rainbow flag
    "🏴\u200d☠️",
    "❤️\u200d🔥",
    "👁️\u200d🗨️",
    "🧔\u200d♂️",
    "👩🏿\u200d🤝\u200d👨🏻",
]
FLAG_CODES = ["US", "GB", "DE", "FR", "JP", "CN", "IN", "BR", "UA", "IL", "SA", "KR", "TH", "GR", "EU", "UN"]
SUBDIVISION_FLAGS = ["gbeng", "gbsct", "gbwls"]
COMBINING = [chr(cp) for cp in range(0x0300, 0x036F + 1)]

SPECIAL_TOKENS = [
    "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>", "<|im_start|>",
    "<|im_end|>", "<|im_sep|>", "<|startoftext|>", "<|start|>", "<|end|>", "<|message|>", "<|channel|>",
    "<|return|>", "<|call|>", "<|constrain|>", "<|reserved_200000|>", "<|endoftext", "|>", "<|",
    "<s>", "</s>",
    "[INST]", "[/INST]", "<unk>", "<pad>", "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "⟨pad⟩",
]

CONTRACTIONS = [
    "'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'Ve", "'m", "'M", "'ll", "'LL",
    "'Ll", "'d", "'D",
    "’s", "’ll", "n't", "N'T",
]

WHITESPACE = [" ", "\t", "\n", "\r\n", "\r", "\u3000", "\xa0", "\u2028", "\u2029", "\x0b", "\x0c", "\u200b",
              "\u2009", "\u202f", "\x85", "\u1680"]

CODE_TEMPLATES = [
    "def {a}({b}, {c}=None):\n    \"\"\"{w}\"\"\"\n    if {b} is None:\n        return []\n"
    "    return [{c} for {c} in range({n}) if {c} % 3 == 0]\n",
    "class {A}:\n\tdef __init__(self, {b}):\n\t\tself.{b} = {b}\n\n\tdef __repr__(self):\n"
    "\t\treturn f\"{A}({{self.{b}!r}})\"\n",
    "fn {a}({b}: &str) -> Result<Vec<u8>, Box<dyn Error>> {{\n    let {c} = {b}.as_bytes().to_vec();\n"
    "    Ok({c})\n}}\n",
    "function {a}({b}) {{\r\n  const {c} = {b}.map((x) => x * {n});\r\n"
    "  return {c}.filter(Boolean);\r\n}}\r\n",
    "#include <stdio.h>\nint main(void) {{\n    int {a}[{n}] = {{0}};\n    printf(\"%d\\n\", {a}[0]);\n"
    "    return 0;\n}}\n",
    "package main\n\nimport \"fmt\"\n\nfunc {A}({b} int) int {{\n\treturn {b} * {n}\n}}\n",
    "SELECT {a}, COUNT(*) AS {b}_count FROM {c} WHERE {b} > {n} GROUP BY {a} ORDER BY 2 DESC;\n",
    "<div class=\"{a}\" id='{b}'>\n  <span>{w}</span>&nbsp;&amp;&lt;&gt;\n</div>\n",
    "#!/usr/bin/env bash\nset -euo pipefail\nfor {a} in $(seq 1 {n}); do\n"
    "  echo \"${{{a}}}\" >> /tmp/{b}.log\ndone\n",
    "public static <T extends Comparable<T>> List<T> {a}(List<T> {b}) {{\n    return {b}.stream().sorted()"
    ".collect(Collectors.toList());\n}}\n",
    "{a} :: [Int] -> Int\n{a} = foldr (\\x acc -> x + acc) 0 . filter even\n",
    "\\begin{{equation}}\n  {a}_{{{n}}} = \\sum_{{i=0}}^{{\\infty}} \\frac{{x^i}}{{i!}}\n\\end{{equation}}\n",
    "    if ({a} != nullptr && {b}->{c}) {{ /* {w} */ }}\n",
    "---\n{a}:\n  - {b}: {n}\n  - {c}: \"{w}\"\n",
]


# --- generators ----------------------------------------------------------------------------------------


def _word(rng: random.Random, alphabet: str, lo: int = 1, hi: int = 10) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _sentence(rng: random.Random, script: str, words: int) -> str:
    alphabet = SCRIPTS[script]
    sep = SEPARATORS.get(script, " ")
    parts = []
    for _ in range(words):
        w = _word(rng, alphabet)
        if script in ("latin", "latin_accents", "cyrillic", "greek") and rng.random() < 0.2:
            w = w.capitalize() if rng.random() < 0.5 else w.upper()
        parts.append(w)
        if rng.random() < 0.15:
            parts.append(rng.choice(PUNCT))
    return sep.join(parts)


def _identifier(rng: random.Random) -> str:
    first = rng.choice("abcdefghijklmnopqrstuvwxyz_")
    rest = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_") for _ in range(rng.randint(0, 12)))
    return first + rest


def _flag(code: str) -> str:
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in code)


def _subdivision_flag(tag: str) -> str:
    return "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in tag) + "\U000e007f"


def _emoji_string(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.randrange(6)
        if kind == 0:
            out.append(rng.choice(EMOJI_BASE))
        elif kind == 1:
            out.append(rng.choice("👍👋🙏💪🤝👏✋🧑👩👨") + rng.choice(SKIN_TONES))
        elif kind == 2:
            out.append(rng.choice(ZWJ_SEQUENCES))
        elif kind == 3:
            out.append(_flag(rng.choice(FLAG_CODES)))
        elif kind == 4:
            out.append(_subdivision_flag(rng.choice(SUBDIVISION_FLAGS)))
        else:
            out.append(rng.choice(["\ufe0f", "\u200d", "\u20e3", rng.choice(SKIN_TONES)]))  # stray modifiers
        if rng.random() < 0.4:
            out.append(rng.choice([" ", "", "\n", " and ", "ok", "。"]))
    return "".join(out)


def _zalgo(rng: random.Random, base: str, depth: int) -> str:
    return "".join(ch + "".join(rng.choice(COMBINING) for _ in range(rng.randint(0, depth))) for ch in base)


def _whitespace_mix(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 6)):
        out.append("".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 40))))
        tail = rng.randrange(5)
        if tail == 0:
            out.append(_word(rng, SCRIPTS["latin"]))
        elif tail == 1:
            out.append(str(rng.randrange(10 ** rng.randint(1, 8))))
        elif tail == 2:
            out.append(rng.choice(PUNCT))
        elif tail == 3:
            out.append(_word(rng, SCRIPTS[rng.choice(list(SCRIPTS))], 1, 4))
    return "".join(out)


def _json_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(7 if depth < 3 else 5)
    if kind == 0:
        return rng.randint(-(10**12), 10**12)
    if kind == 1:
        return rng.random() * 10 ** rng.randint(-5, 8)
    if kind == 2:
        return _sentence(rng, rng.choice(list(SCRIPTS)), rng.randint(1, 5))
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return _emoji_string(rng)
    if kind == 5:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {_identifier(rng): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _url(rng: random.Random) -> str:
    host = rng.choice(["example.com", "api.github.com", "xn--bcher-kva.example", "localhost:8080",
                       "例子.测试", "sub.domain.co.uk", "[::1]:443", "192.168.0.1"])
    path = "/".join(_identifier(rng) for _ in range(rng.randint(0, 5)))
    query = "&".join(f"{_identifier(rng)}={rng.choice(['', str(rng.randrange(10**6)), '%E2%9C%93', 'a+b'])}"
                     for _ in range(rng.randint(0, 4)))
    url = f"{rng.choice(['https', 'http', 'ftp', 'file'])}://{host}/{path}"
    if query:
        url += "?" + query
    if rng.random() < 0.3:
        url += "#" + _identifier(rng)
    return rng.choice(["{}", "See {} now.", "<{}>", "[link]({})", "\"{}\"", "{}\n{}"]).format(url, url)


def _random_codepoints(rng: random.Random, n: int, planes: str) -> str:
    out = []
    for _ in range(n):
        if planes == "bmp":
            cp = rng.randrange(0x0000, 0x10000)
        elif planes == "all":
            cp = rng.randrange(0x0000, 0x110000)
        elif planes == "assigned-ish":
            cp = rng.choice([rng.randrange(0x20, 0x2FFF), rng.randrange(0x3000, 0xD7FF),
                             rng.randrange(0x1F000, 0x1FAFF), rng.randrange(0x20000, 0x2A6DF)])
        else:  # ascii
            cp = rng.randrange(0x00, 0x80)
        out.append(chr(cp))
    return "".join(out)


def _fixed_samples() -> list[str]:
    samples = [
        "", " ", "  ", "\n", "\r\n", "\r", "\t", "\x00", "a", "A", "1", "hello world", "Hello, World!",
        "hello, world", "The quick brown fox jumps over the lazy dog.",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG", "e\u0301", "é", "cafe\u0301 café", "ﬁ ﬂ ﬀ Å Å Ω Ω",
        "Ǆ ǅ ǆ ǲ ᾈ ᾉ", "İstanbul ıi ß ẞ", "straße STRASSE", "こんにちは世界", "你好，世界！",
        "안녕하세요 세계",
        "각 ᄒᆞᆫ", "Привет, мир!", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
        "สวัสดีชาวโลก", "😀", "👨\u200d👩\u200d👧\u200d👦", "🇺🇸🇬🇧🇯🇵", "👍🏽", "🏳️\u200d🌈", "#️⃣",
        "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>",
        "<|im_start|>",
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "text<|endoftext|>more text",
        "<|endoftext|><|endoftext|><|endoftext|>", "he's", "HE'S", "they'LL", "we'Ve", "I'm",
        "you'RE", "don't",
        "It's a dog's life, isn't it? We'll see; they'd've known.", "\ud800", "\udfff", "a\ud800b",
        "\ud83d\ude00",
        "\udc00\ud800", "\ue000", "\uf8ff", "\U000f0000", "\U0010fffd", "\ufffd", "\ufeff", "\ufeffBOM text",
        "\u200b\u200c\u200d\u2060", "\u202e reversed \u202c", "\x00\x01\x02\x1f\x7f", "NUL\x00in\x00middle",
        "0", "00", "000", "0000", "1234567890", "3.14159265358979323846", "1,000,000.00", "-42", "1e-10",
        "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "１２３４５", "Ⅻ ⅻ ½ ¾ ²³", "    ", "\t\t\t", "\n\n\n",
        " \n \n ", "a \n b", "a\r\nb\rc\nd", "line1\r\nline2\r\n", "x\r", "\r\r\r\n\n",
        "  leading", "trailing  ",
        "   123", "\n\n42", "\t\tfoo", "   \u3000  日本", "a" * 1000, "ab" * 500, "é" * 500, "日" * 1000,
        "😀" * 300, "!" * 1000, "-" * 2000, "=" * 80 + "\n" + "=" * 80, "." * 3000, "/" * 500, "\\" * 500,
        "\n" * 200 + "x", "x" + " " * 300 + "y", "https://openai.com/", "user@example.com",
        "{\"a\": 1, \"b\": [true, false, null], \"c\": \"d\"}", "<html><body>Hi</body></html>",
        "print('hello world')\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
        "¯\\_(ツ)_/¯", "( ͡° ͜ʖ ͡°)", "Z̷̡̢̛̛͉̪̬̟̝͔̯̘̦͓̹̣̫̻͗̈́̋̐̀̐̇͋̓̈́̑̍̕͘͜͝a̷l̷g̷o̷",
        "ab\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309\u030a\u030b\u030c\u030d",
        "\u0301", "\u0301\u0301\u0301", "Ａｂｃ ｱｲｳ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 𝒮𝒸𝓇𝒾𝓅𝓉", "𓀀𓀁𓀂", "ꙮ",
        "\U0001f9d1\u200d\U0001f4bb",
    ]
    samples.append(" " * 20_000)
    samples.append("a" + " " * 20_000 + "b")
    samples.append(" " * 20_000 + "\n")
    samples.append("word" + " " * 20_000 + "123")
    samples.append("\n" * 5_000)
    samples.append("start" + "\n" * 5_000 + "end")
    samples.append("\r\n" * 2_500)
    samples.append("\t" * 5_000 + "x")
    samples.append(" \n" * 2_500 + "Z")
    samples.append("9" * 10_000)
    samples.append("1234567890" * 500)
    samples.append(base64.b64encode(bytes(range(256)) * 20).decode())
    return samples


@lru_cache(maxsize=4)
def _build(seed: int) -> tuple[str, ...]:
    rng = random.Random(seed)
    samples = _fixed_samples()

    # Scripts: sentences, paragraphs and mixed-script lines.
    script_names = list(SCRIPTS)
    for script in script_names:
        for _ in range(70):
            samples.append(_sentence(rng, script, rng.randint(1, 25)))
        for _ in range(5):
            lines = [_sentence(rng, script, rng.randint(5, 30)) for _ in range(rng.randint(2, 8))]
            samples.append("\n".join(lines))
    for _ in range(150):
        parts = [_sentence(rng, rng.choice(script_names), rng.randint(1, 6)) for _ in range(4)]
        samples.append(" ".join(parts))

    # Emoji.
    for _ in range(200):
        samples.append(_emoji_string(rng))
    for _ in range(50):
        head = _sentence(rng, "latin", 5)
        samples.append(head + " " + _emoji_string(rng) + " " + _sentence(rng, "latin", 3))

    # Combining marks and Zalgo.
    for _ in range(100):
        base = _sentence(rng, rng.choice(["latin", "cyrillic", "greek", "latin_accents"]), rng.randint(1, 5))
        samples.append(_zalgo(rng, base, rng.choice([1, 3, 8, 20])))
    for _ in range(30):
        samples.append("".join(rng.choice(COMBINING) for _ in range(rng.randint(1, 60))))
    for _ in range(30):
        samples.append(rng.choice("aeiouAEIOU") + "\u0301" + _sentence(rng, "latin", 3) + "e\u0301")

    # Whitespace and line endings.
    for _ in range(300):
        samples.append(_whitespace_mix(rng))
    for _ in range(60):
        n = rng.randint(1, 400)
        ws = rng.choice([" ", "\t", "\n", "\r\n", "\r", " \t", "\u3000"])
        samples.append(ws * n + rng.choice(["a", "A", "1", "12345", "é", "日", "!", "'s", "", "\n"]))
    for _ in range(40):
        lines = [_sentence(rng, "latin", rng.randint(0, 8)) for _ in range(rng.randint(2, 10))]
        samples.append(rng.choice(["\r\n", "\r", "\n", "\n\n", "\r\r\n"]).join(lines))

    # base64 blobs and digit runs.
    for _ in range(80):
        blob = rng.randbytes(rng.randint(1, 3000))
        encoded = base64.b64encode(blob).decode()
        if rng.random() < 0.3:
            encoded = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
        if rng.random() < 0.2:
            encoded = base64.urlsafe_b64encode(blob).decode()
        samples.append(encoded)
    for _ in range(80):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 2000)))
        samples.append(rng.choice(["{}", "x{}", "{}y", " {}", "$ {}.00", "{}\n{}"]).format(digits, digits))
    for _ in range(30):
        samples.append(rng.randbytes(rng.randint(1, 200)).hex())

    # Code, URLs, JSON.
    for _ in range(200):
        template = rng.choice(CODE_TEMPLATES)
        samples.append(template.format(a=_identifier(rng), b=_identifier(rng), c=_identifier(rng),
                                       A=_identifier(rng).capitalize(), n=rng.randrange(10**6),
                                       w=_sentence(rng, rng.choice(script_names), 4)))
    for _ in range(120):
        samples.append(_url(rng))
    for _ in range(120):
        value = _json_value(rng)
        samples.append(json.dumps(value, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2, "\t"])))

    # Special-token text and contractions.
    for _ in range(120):
        parts = []
        for _ in range(rng.randint(1, 6)):
            parts.append(rng.choice(SPECIAL_TOKENS))
            if rng.random() < 0.6:
                parts.append(rng.choice([" ", "\n", "", _sentence(rng, "latin", 2), "日本"]))
        samples.append("".join(parts))
    for _ in range(120):
        parts = []
        for _ in range(rng.randint(1, 8)):
            word = _word(rng, SCRIPTS[rng.choice(["latin", "latin_accents", "cyrillic"])])
            parts.append(word + rng.choice(CONTRACTIONS))
        samples.append(rng.choice([" ", "", "  ", "\n"]).join(parts))

    # Control characters, NUL, lone surrogates, private use.
    for _ in range(60):
        samples.append("".join(rng.choice([chr(rng.randrange(0x00, 0x20)), "\x7f", "\x00", "a", " ",
                                           chr(0x80 + rng.randrange(32))])
                               for _ in range(rng.randint(1, 50))))
    for _ in range(80):
        parts = []
        for _ in range(rng.randint(1, 8)):
            parts.append(rng.choice([chr(rng.randrange(0xD800, 0xDC00)), chr(rng.randrange(0xDC00, 0xE000)),
                                     _word(rng, SCRIPTS["latin"]), "😀", " ", "\ud83d", "\ude00"]))
        samples.append("".join(parts))
    for _ in range(60):
        samples.append("".join(rng.choice([chr(rng.randrange(0xE000, 0xF900)),
                                           chr(rng.randrange(0xF0000, 0xFFFFE)),
                                           chr(rng.randrange(0x100000, 0x10FFFE)), "x", " "])
                               for _ in range(rng.randint(1, 40))))

    # Random code points.
    for planes, count in (("bmp", 200), ("all", 200), ("assigned-ish", 200), ("ascii", 150)):
        for _ in range(count):
            samples.append(_random_codepoints(rng, rng.randint(1, 120), planes))

    # Concatenations of earlier samples (keeps long, mixed inputs in the corpus).
    pool_end = len(samples)
    for _ in range(150):
        picks = [samples[rng.randrange(pool_end)] for _ in range(rng.randint(2, 6))]
        picks = [p for p in picks if len(p) < 5000]
        samples.append(rng.choice(["", " ", "\n", "\r\n", "\t"]).join(picks))
    for _ in range(6):
        samples.append("\n".join(_sentence(rng, rng.choice(script_names), 20) for _ in range(300)))

    return tuple(samples)


def hard_corpus(seed: int = 0) -> list[str]:
    """The corpus for ``seed``: a fresh list of the same strings on every call."""
    return list(_build(seed))
