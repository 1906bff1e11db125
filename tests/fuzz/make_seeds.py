#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into corpus/<target>/.

Small valid inputs and near-misses of each format, so that libFuzzer starts
from the formats' structure rather than from nothing. Run it again after a
format changes; fuzz.sh copies the corpora before fuzzing, so what is
checked in is only ever this script's output plus the regression inputs
(named regression-*) of crashes found and fixed.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "..", "..", "shared", "reference")


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fnv1a64(data, h=0xCBF29CE484222325):
    for c in data:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


# --- experiment specs -----------------------------------------------------

def small_spec(**over):
    spec = {
        "name": "fuzz-small",
        "model": "demo",
        "generation": {"tokensPerPrompt": 4, "temperature": 0, "seed": 7},
        "capture": {"hooks": ["standard"], "dtype": "F16"},
        "baseline": {"name": "rest",
                     "prompts": ["Tell me about sailing.", "How do knots work?",
                                 "What is a jib?", "Why do boats float?"]},
        "conditions": [
            {"name": "cooking", "prompts": ["How do I boil an egg?",
                                            "What is a roux?"]},
            {"name": "maths", "prompts": ["What is a prime?",
                                          "Why is 0! one?"]},
        ],
        "design": {"pattern": ["baseline", "task", "baseline"],
                   "promptsPerBlock": 1, "repeats": 2},
        "analysis": {"inference": "PROMPT", "levelTwo": "RUN_OLS",
                     "threshold": {"method": "FDR", "alpha": 0.05},
                     "classify": True},
    }
    for key, value in over.items():
        spec[key] = value
    return spec


def spec_seeds():
    specs = {
        "small-prompt": small_spec(),
        "small-token-spm-ar1": small_spec(analysis={
            "inference": "TOKEN", "hrf": "SPM", "drift": "COSINE",
            "noise": "AR1", "tokensPerSecond": 2, "driftCutoffS": 64,
            "threshold": {"method": "BONFERRONI", "alpha": 0.01}}),
        "small-welch-permutation": small_spec(
            analysis={"inference": "PROMPT", "levelTwo": "WELCH",
                      "threshold": {"method": "PERMUTATION",
                                    "permutations": 200}},
            design={"pattern": ["baseline", "task", "baseline"],
                    "promptsPerBlock": 3, "repeats": 1},
            baseline={"name": "rest",
                      "prompts": [f"Rest prompt {i}?" for i in range(6)]},
            conditions=[{"name": "task",
                         "prompts": [f"Task prompt {i}?" for i in range(3)]}]),
        "small-glover-polynomial": small_spec(analysis={
            "inference": "TOKEN", "hrf": "GLOVER", "drift": "POLYNOMIAL",
            "driftOrder": 2}),
        "small-bf16-sampling": small_spec(
            generation={"tokens_per_prompt": 3, "temperature": 0.7,
                        "topK": 40, "topP": 0.9, "seed": "18446744073709551615"},
            capture={"hooks": ["blocks.*.mlp_post", "resid"], "dtype": "BF16"}),
        "near-duplicate-names": small_spec(conditions=[
            {"name": "rest", "prompts": ["a?"]},
            {"name": "Rest", "prompts": ["a?", "a?"]}]),
        "near-bad-numbers": small_spec(
            generation={"tokensPerPrompt": 0, "temperature": -1, "topP": 2},
            design={"pattern": ["task"], "promptsPerBlock": -1,
                    "repeats": 1000}),
        "near-unicode": small_spec(
            name="caf\u00e9 \u202e\u0000x", baseline={
                "name": "\u00a0", "prompts": ["\ud7ff", " ", "\ufeffz"]}),
    }
    for name, spec in specs.items():
        put("spec_json_fuzzer", name + ".json", json.dumps(spec, indent=1))
    put("spec_json_fuzzer", "near-unknown-field.json",
        '{"name": "n", "desgin": {}, "generation": {"tokensPerPrompt": "4"}}')
    put("spec_json_fuzzer", "near-truncated.json",
        json.dumps(small_spec())[:200])
    put("spec_json_fuzzer", "empty-object.json", "{}")

    yamls = {
        "small-prompt.yaml": to_yaml(small_spec()),
        "small-token.yaml": to_yaml(small_spec(analysis={
            "inference": "TOKEN", "hrf": "SPM", "noise": "AR1"})),
        "flow-and-anchors.yaml":
            "name: &n fuzz\nmodel: *n\ngeneration: {tokensPerPrompt: 0x10,"
            " temperature: .5, seed: 1e3}\nbaseline:\n  name: rest\n"
            "  prompts: [\"a\", 'b', c, ~, null, true, -.inf, .NaN]\n"
            "conditions:\n  - name: x\n    prompts:\n      - |\n"
            "        block\n        text\n      - >-\n        folded\n"
            "        text\n",
        "tags-and-merge.yaml":
            "--- !spec\nbase: &b {name: rest, prompts: [p]}\n"
            "baseline: {<<: *b}\nconditions: !!seq [ {name: !!str 1} ]\n"
            "design: {pattern: [baseline, task], repeats: 0o7}\n...\n",
        "multi-doc.yaml": "name: a\n---\nname: b\n",
        "near-bad-indent.yaml": "name: a\n  model: b\n- c\n",
        "near-complex-key.yaml": "? [a, b]\n: c\n{x: 1}: 2\n",
        "scalars.yaml":
            "a: 0b101\nb: +12\nc: -0\nd: 1_000\ne: 0.\nf: +.Inf\ng: TRUE\n"
            "h: Null\ni: ''\nj: \"\\u00e9\\x41\\n\"\nk: 9223372036854775808\n"
            "l: -9223372036854775809\nm: 1e400\n",
    }
    for name, text in yamls.items():
        put("spec_yaml_fuzzer", name, text)


def to_yaml(value, indent=0):
    pad = " " * indent
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            else:
                out.append(f"{pad}{k}: {scalar(v)}")
        return "\n".join(out) + ("\n" if indent == 0 else "")
    out = []
    for v in value:
        if isinstance(v, dict):
            body = to_yaml(v, indent + 2).lstrip()
            out.append(f"{pad}- {body}")
        else:
            out.append(f"{pad}- {scalar(v)}")
    return "\n".join(out)


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, list):
        return "[]"
    if isinstance(v, dict):
        return "{}"
    return json.dumps(v)


# --- safetensors ------------------------------------------------------------

def safetensors(tensors, metadata=None, header_pad=0, raw_header=None,
                trailing=b""):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    text = raw_header if raw_header is not None else json.dumps(header)
    text = text.encode() + b" " * header_pad
    return struct.pack("<Q", len(text)) + text + data + trailing


def safetensors_seeds():
    f32 = struct.pack("<4f", 1.0, -2.5, 0.0, 3.25)
    f16 = struct.pack("<3e", 1.0, -0.5, 65504.0)
    put("safetensors_fuzzer", "f32-f16-i64.safetensors", safetensors([
        ("w", "F32", [2, 2], f32),
        ("h", "F16", [3], f16),
        ("ids", "I64", [2], struct.pack("<2q", -1, 7)),
    ], metadata={"format": "pt"}))
    put("safetensors_fuzzer", "all-dtypes.safetensors", safetensors([
        ("a", "BF16", [2], b"\x80\x3f\x00\xc0"),
        ("b", "F64", [1], struct.pack("<d", 0.125)),
        ("c", "I32", [1], struct.pack("<i", -3)),
        ("d", "I16", [2], struct.pack("<2h", 1, -1)),
        ("e", "I8", [3], b"\x01\xff\x7f"),
        ("f", "U8", [1, 1], b"\xfe"),
        ("g", "BOOL", [2], b"\x01\x00"),
        ("scalar", "F32", [], struct.pack("<f", 9.0)),
        ("empty", "F32", [0, 4], b""),
    ], header_pad=5))
    put("safetensors_fuzzer", "near-overlap.safetensors", safetensors(
        [], raw_header='{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        '"y":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}',
        trailing=b"\0" * 8))
    put("safetensors_fuzzer", "near-truncated.safetensors", safetensors(
        [("w", "F32", [4], f32)])[:-3])
    put("safetensors_fuzzer", "near-bad-shape.safetensors", safetensors(
        [], raw_header='{"w":{"dtype":"F16","shape":[-1, 2],'
        '"data_offsets":[0,4]},"__metadata__":{"k":1}}', trailing=b"\0" * 4))
    put("safetensors_fuzzer", "near-huge-length.safetensors",
        struct.pack("<Q", 1 << 62) + b"{}")
    put("safetensors_fuzzer", "empty-header.safetensors",
        safetensors([], raw_header="{}"))
    # A real checkpoint's header with its data cut to the first tensor's.
    path = os.path.join(REFERENCE, "models", "gpt2", "model.safetensors")
    if os.path.exists(path):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            put("safetensors_fuzzer", "gpt2-header-only.safetensors",
                struct.pack("<Q", n) + f.read(n))


# --- tokenizers and configs -------------------------------------------------

def llama_style_tokenizer():
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece in ["\u2581", "h", "e", "l", "o", "w", "r", "d", "\u2581h",
                  "ll", "\u2581he", "\u2581hell", "\u2581hello", "\u2581w",
                  "or", "\u2581wor", "\u2581world"]:
        vocab.setdefault(piece, len(vocab))
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [
            {"id": 0, "content": "<unk>", "single_word": False,
             "lstrip": False, "rstrip": False, "normalized": False,
             "special": True},
            {"id": 1, "content": "<s>", "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True},
            {"id": 2, "content": "</s>", "single_word": False,
             "lstrip": False, "rstrip": False, "normalized": False,
             "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "},
             "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1],
                                       "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"},
             "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True,
                  "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab,
                  "merges": ["\u2581 h", "l l", "\u2581h e", "\u2581he ll",
                             "\u2581hell o", "\u2581 w", "o r",
                             "\u2581w or", "\u2581wor ld"]},
    }


def mixed_tokenizer():
    vocab = {c: i for i, c in enumerate(
        "abcdefghijklmnopqrstuvwxyz0123456789.,!?'")}
    vocab.update({"th": len(vocab), "the": len(vocab) + 1,
                  "##s": len(vocab) + 2, "[UNK]": len(vocab) + 3,
                  "[CLS]": len(vocab) + 4, "[SEP]": len(vocab) + 5})
    return {
        "version": "1.0",
        "added_tokens": [
            {"id": vocab["[CLS]"], "content": "[CLS]", "single_word": False,
             "lstrip": False, "rstrip": False, "normalized": False,
             "special": True},
            {"id": len(vocab), "content": "<mask>", "single_word": True,
             "lstrip": True, "rstrip": True, "normalized": True,
             "special": False}],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Lowercase"},
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": "\\s+"},
             "content": " "}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Digits", "individual_digits": True},
            {"type": "Punctuation", "behavior": "Isolated"},
            {"type": "Split", "pattern": {"Regex": "(?i:th)"},
             "behavior": "MergedWithNext", "invert": False},
            {"type": "Metaspace", "replacement": "\u2581",
             "prepend_scheme": "first", "split": True}]},
        "post_processor": {"type": "BertProcessing",
                           "sep": ["[SEP]", vocab["[SEP]"]],
                           "cls": ["[CLS]", vocab["[CLS]"]]},
        "decoder": {"type": "Metaspace", "replacement": "\u2581",
                    "prepend_scheme": "always", "split": True},
        "model": {"type": "BPE", "unk_token": "[UNK]",
                  "continuing_subword_prefix": "##",
                  "end_of_word_suffix": "</w>", "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [["t", "h"], ["th", "e"]]},
    }


def tokenizer_seeds():
    put("tokenizer_json_fuzzer", "llama-style.json",
        json.dumps(llama_style_tokenizer()))
    put("tokenizer_json_fuzzer", "mixed-components.json",
        json.dumps(mixed_tokenizer()))
    roberta = mixed_tokenizer()
    roberta["post_processor"] = {
        "type": "Sequence", "processors": [
            {"type": "ByteLevel", "trim_offsets": True},
            {"type": "RobertaProcessing", "sep": ["[SEP]", 46],
             "cls": ["[CLS]", 45], "trim_offsets": True,
             "add_prefix_space": True}]}
    roberta["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True,
                                "use_regex": False}
    roberta["normalizer"] = {"type": "NFD"}
    put("tokenizer_json_fuzzer", "roberta-bytelevel.json", json.dumps(roberta))
    put("tokenizer_json_fuzzer", "near-unknown-model.json",
        '{"model": {"type": "WordPiece", "vocab": {}}}')
    put("tokenizer_json_fuzzer", "near-bad-merge.json",
        '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}')
    texts = {
        "ascii.txt": b"Hello world! It's 2024.",
        "utf8.txt": "caf\u00e9 \u65e5\u672c \U0001F600\n\t  x".encode(),
        "added-tokens.txt": b"<|endoftext|>a<s></s>[CLS]<mask> b",
        "normalize.txt": "THE  Things 12345 ,.!? \u200b\uff21".encode(),
        "invalid-utf8.txt": b"\xff\xc3(",
    }
    for name, text in texts.items():
        put("tokenizer_encode_fuzzer", name, text)
    tiny = os.path.join(REFERENCE, "tokenizers", "tiny", "tokenizer.json")
    if os.path.exists(tiny):
        with open(tiny, "rb") as f:
            put("tokenizer_json_fuzzer", "tiny-gpt2.json", f.read())

    for family in ["gpt2", "gpt_neox", "llama", "opt"]:
        path = os.path.join(REFERENCE, "models", family, "config.json")
        if os.path.exists(path):
            with open(path, "rb") as f:
                put("model_config_fuzzer", f"reference-{family}.json", f.read())
    configs = {
        "llama3-rope": {
            "model_type": "llama", "hidden_size": 64,
            "intermediate_size": 128, "num_attention_heads": 4,
            "num_key_value_heads": 1, "num_hidden_layers": 2,
            "vocab_size": 300, "max_position_embeddings": 256,
            "rms_norm_eps": 1e-5, "hidden_act": "silu", "head_dim": 16,
            "rope_theta": 500000.0, "eos_token_id": [1, 2],
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 64}},
        "opt-350m-post-ln": {
            "model_type": "opt", "hidden_size": 32, "ffn_dim": 64,
            "num_attention_heads": 2, "num_hidden_layers": 2,
            "vocab_size": 100, "max_position_embeddings": 64,
            "do_layer_norm_before": False, "word_embed_proj_dim": 16,
            "activation_function": "relu", "enable_bias": True,
            "layer_norm_elementwise_affine": True, "pad_token_id": 1},
        "gpt2-options": {
            "model_type": "gpt2", "n_embd": 32, "n_head": 4, "n_layer": 1,
            "n_inner": None, "vocab_size": 50, "n_positions": 16,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "scale_attn_weights": False,
            "scale_attn_by_inverse_layer_idx": True,
            "add_cross_attention": False},
        "neox-partial-rotary": {
            "model_type": "gpt_neox", "hidden_size": 48,
            "intermediate_size": 96, "num_attention_heads": 3,
            "num_hidden_layers": 1, "vocab_size": 70,
            "max_position_embeddings": 32, "rotary_pct": 0.25,
            "rotary_emb_base": 10000, "use_parallel_residual": True,
            "hidden_act": "gelu_fast", "layer_norm_eps": 1e-5,
            "rope_scaling": {"type": "linear", "factor": 2.0}},
        "near-huge-sizes": {
            "model_type": "llama", "hidden_size": 4611686018427387904,
            "intermediate_size": 4611686018427387904,
            "num_attention_heads": 1, "num_hidden_layers": 9223372036854775807,
            "vocab_size": 9223372036854775807,
            "max_position_embeddings": 1},
        "near-unknown-type": {"model_type": "bert", "hidden_size": 8},
    }
    for name, config in configs.items():
        put("model_config_fuzzer", name + ".json", json.dumps(config))


# --- activation frames ------------------------------------------------------

def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def layout_proto(hooks, width=None, hash_value=None):
    h = fnv1a64(b"fnprobe.layout.v1\n")
    body = b""
    for name, w in hooks:
        h = fnv1a64(f"{name}\t{w}\n".encode(), h)
        point = b"\x0a" + varint(len(name)) + name.encode() + b"\x10" + varint(w)
        body += b"\x0a" + varint(len(point)) + point
    body += b"\x11" + struct.pack("<Q", h if hash_value is None else hash_value)
    total = sum(w for _, w in hooks) if width is None else width
    body += b"\x18" + varint(total)
    return body


def frame(encoding, layout, values):
    return bytes([encoding & 0xFF]) + struct.pack("<H", len(layout)) + layout \
        + values


def frame_seeds():
    hooks = [("blocks.0.mlp_post", 3), ("blocks.1.resid_post", 2)]
    layout = layout_proto(hooks)
    f16 = struct.pack("<5e", 0.5, -1.0, 65504.0, float("inf"), 6e-8)
    put("frame_fuzzer", "f16.bin", frame(1, layout, f16))
    put("frame_fuzzer", "unspecified.bin", frame(0, layout, f16))
    put("frame_fuzzer", "f32.bin",
        frame(2, layout, struct.pack("<5f", 1, 2, 3, float("nan"), -0.0)))
    put("frame_fuzzer", "bf16.bin",
        frame(3, layout, b"\x80\x3f\x00\xc0\x80\x7f\xc0\x7f\x01\x00"))
    put("frame_fuzzer", "near-short-frame.bin", frame(1, layout, f16[:-2]))
    put("frame_fuzzer", "near-bad-hash.bin",
        frame(1, layout_proto(hooks, hash_value=1), f16))
    put("frame_fuzzer", "near-huge-width.bin",
        frame(2, layout_proto([("a", (1 << 62)), ("b", (1 << 62))]), b""))
    put("frame_fuzzer", "near-unknown-encoding.bin", frame(-7, layout, f16))
    put("frame_fuzzer", "empty-layout.bin", frame(1, b"", b""))


# --- stored stat maps -------------------------------------------------------

def stat_map(units, contrast=b"task > rest", noise=b"AR1", dof=17.5):
    out = b"FNSM" + struct.pack("<IQd", 1, units, dof)
    out += struct.pack("<I", len(contrast)) + contrast
    out += struct.pack("<I", len(noise)) + noise
    for a in range(4):
        out += struct.pack(f"<{units}d", *[a + i * 0.5 for i in range(units)])
    return out + struct.pack("<Q", fnv1a64(out))


def prompt_values(rows, cols):
    out = b"FNPV" + struct.pack("<IQQ", 1, rows, cols)
    out += struct.pack(f"<{rows * cols}d", *[i * 0.25 for i in range(rows * cols)])
    return out + struct.pack("<Q", fnv1a64(out))


def stat_map_seeds():
    put("stat_map_fuzzer", "stat-map-3.bin", stat_map(3))
    put("stat_map_fuzzer", "stat-map-empty.bin", stat_map(0, b"", b""))
    put("stat_map_fuzzer", "prompt-values-2x3.bin", prompt_values(2, 3))
    put("stat_map_fuzzer", "prompt-values-1x1.bin", prompt_values(1, 1))
    bad = bytearray(stat_map(2))
    bad[10] ^= 0x40  # a units count the size disagrees with
    put("stat_map_fuzzer", "near-bad-units.bin", bytes(bad))
    put("stat_map_fuzzer", "near-truncated.bin", prompt_values(2, 2)[:-9])


# --- NumPy .npy files ---------------------------------------------------------

def npy(descr="<f4", shape=(2, 3), fortran=False, version=1, values=None,
        raw_dict=None, extra=b"", cut=0):
    """A .npy file as numpy.save writes it (any version), or a near-miss."""
    shape_text = f"({shape[0]},)" if len(shape) == 1 else \
        "(" + ", ".join(str(d) for d in shape) + ")"
    dict_text = raw_dict if raw_dict is not None else (
        f"{{'descr': '{descr}', 'fortran_order': {fortran}, "
        f"'shape': {shape_text}, }}")
    length_bytes = 2 if version == 1 else 4
    preamble = 6 + 2 + length_bytes
    text = dict_text.encode()
    text += b" " * ((64 - (preamble + len(text) + 1) % 64) % 64) + b"\n"
    out = b"\x93NUMPY" + bytes([version, 0])
    out += struct.pack("<H" if version == 1 else "<I", len(text)) + text
    n = 1
    for d in shape:
        n *= d
    if values is None:
        code = "d" if descr.endswith("8") else "f"
        values = struct.pack(f"<{n}{code}", *[i * 0.5 for i in range(n)]) \
            if descr[1] == "f" else b"\x00" * (n * int(descr[2]))
    out += values + extra
    return out[:len(out) - cut] if cut else out


def npy_seeds():
    put("npy_fuzzer", "f4-2x3.npy", npy())
    put("npy_fuzzer", "f8-4.npy", npy("<f8", (4,)))
    put("npy_fuzzer", "f4-fortran-3x2.npy", npy(fortran=True, shape=(3, 2)))
    put("npy_fuzzer", "f8-scalar.npy", npy("<f8", ()))
    put("npy_fuzzer", "f4-empty-0x5.npy", npy(shape=(0, 5)))
    put("npy_fuzzer", "f4-v2-2x2x2.npy", npy(shape=(2, 2, 2), version=2))
    put("npy_fuzzer", "f8-v3-native.npy", npy("=f8", (3,), version=3))
    put("npy_fuzzer", "near-big-endian.npy", npy(">f4"))
    put("npy_fuzzer", "near-int64.npy", npy("<i8", (2,)))
    put("npy_fuzzer", "near-truncated.npy", npy(cut=5))
    put("npy_fuzzer", "near-extra-bytes.npy", npy(extra=b"\x00" * 4))
    put("npy_fuzzer", "near-huge-shape.npy", npy(
        raw_dict="{'descr': '<f8', 'fortran_order': False, "
                 "'shape': (4294967296, 4294967296), }", values=b""))
    put("npy_fuzzer", "near-structured.npy", npy(
        raw_dict="{'descr': [('a', '<f4')], 'fortran_order': False, "
                 "'shape': (1,), }", values=b"\x00" * 4))
    put("npy_fuzzer", "near-header-length.npy",
        b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f4'")


def main():
    spec_seeds()
    safetensors_seeds()
    tokenizer_seeds()
    frame_seeds()
    stat_map_seeds()
    npy_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
