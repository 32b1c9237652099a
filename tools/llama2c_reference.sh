#!/usr/bin/env bash
# Greedy decoding of stories260K by llama2.c's own run.c, the reference that
# gograd's `run` must reproduce token for token. Writes
# testdata/llama/run_c_greedy.json: for each prompt, the command, run.c's
# exact standard output, the prompt's token ids (BOS first) and the ids run.c
# sampled, in order.
#
# Usage, from anywhere:
#
#   tools/llama2c_reference.sh LLAMA2C [DATA]
#
# LLAMA2C is a clone of https://github.com/karpathy/llama2.c (a work tree or
# a bare git folder; the fixture was made at commit
# 350e04fe35433e6d2941dce5a1f53308f87058eb). DATA is the folder of
# stories260K.bin and tok512.bin (default ../shared/data/llama2c beside the
# module root). Needs gcc (or $CC) and python3 (only to write JSON).
#
# run.c is built twice in a temporary folder, never in the repository: as it
# is (its standard output is the fixture's "stdout"), and a copy patched to
# print the prompt's token ids and every sampled id on standard error. The
# patch adds two fprintf calls and nothing else, and the script checks that
# both builds print the same text.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=${1:?usage: tools/llama2c_reference.sh LLAMA2C [DATA]}
data=${2:-$root/../shared/data/llama2c}
data=$(cd "$data" && pwd)
model=$data/stories260K.bin
tok=$data/tok512.bin
out=$root/testdata/llama/run_c_greedy.json
cc=${CC:-gcc}
steps=200
prompts=("Once upon a time" "The little dog" "")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -f "$src/run.c" ]; then
	cp "$src/run.c" "$tmp/run.c"
	commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
else
	git --git-dir="$src" show HEAD:run.c >"$tmp/run.c"
	commit=$(git --git-dir="$src" rev-parse HEAD)
fi

# The patched copy: print the prompt's ids after encode, and each sampled id
# (before run.c's stop on BOS, so a final 1 shows that it stopped there).
python3 - "$tmp/run.c" "$tmp/run_ids.c" <<'EOF'
import sys
src = open(sys.argv[1]).read()
edits = [
    ("    encode(tokenizer, prompt, 1, 0, prompt_tokens, &num_prompt_tokens);\n",
     "    encode(tokenizer, prompt, 1, 0, prompt_tokens, &num_prompt_tokens);\n"
     "    for (int i = 0; i < num_prompt_tokens; i++) { fprintf(stderr, \"prompt_token %d\\n\", prompt_tokens[i]); }\n"),
    ("            // otherwise sample the next token from the logits\n            next = sample(sampler, logits);\n",
     "            // otherwise sample the next token from the logits\n            next = sample(sampler, logits);\n"
     "            fprintf(stderr, \"token %d\\n\", next);\n"),
]
for old, new in edits:
    assert src.count(old) == 1, "run.c changed: cannot patch " + repr(old)
    src = src.replace(old, new)
open(sys.argv[2], "w").write(src)
EOF

flags=(-O2)
"$cc" "${flags[@]}" -o "$tmp/run" "$tmp/run.c" -lm
"$cc" "${flags[@]}" -o "$tmp/run_ids" "$tmp/run_ids.c" -lm

i=0
for prompt in "${prompts[@]}"; do
	(cd "$data" && "$tmp/run" stories260K.bin -z tok512.bin -t 0 -n "$steps" -i "$prompt") >"$tmp/stdout.$i" 2>/dev/null
	(cd "$data" && "$tmp/run_ids" stories260K.bin -z tok512.bin -t 0 -n "$steps" -i "$prompt") >"$tmp/stdout_ids.$i" 2>"$tmp/ids.$i"
	cmp -s "$tmp/stdout.$i" "$tmp/stdout_ids.$i" || { echo "patched run.c printed other text for prompt '$prompt'" >&2; exit 1; }
	i=$((i + 1))
done

python3 - "$tmp" "$out" "$commit" "$cc ${flags[*]} -o run run.c -lm" "$steps" "$model" "$tok" "${prompts[@]}" <<'EOF'
import hashlib, json, re, shlex, sys
tmp, out, commit, build, steps, model, tok = sys.argv[1:8]
prompts = sys.argv[8:]
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
runs = []
for i, prompt in enumerate(prompts):
    stdout = open(f"{tmp}/stdout.{i}", "rb").read().decode("utf-8")
    prompt_ids, ids = [], []
    for line in open(f"{tmp}/ids.{i}"):
        kind, _, v = line.strip().partition(" ")
        if kind == "prompt_token":
            prompt_ids.append(int(v))
        elif kind == "token":
            ids.append(int(v))
    runs.append({
        "prompt": prompt,
        "command": "run stories260K.bin -z tok512.bin -t 0 -n %s -i %s" % (steps, shlex.quote(prompt)),
        "prompt_tokens": prompt_ids,
        "generated": ids,
        "stopped_at_bos": bool(ids) and ids[-1] == 1,
        "stdout": stdout,
    })
doc = {
    "about": "Greedy decoding (-t 0) of stories260K by llama2.c's run.c. prompt_tokens is run.c's encoding "
             "of the prompt (BOS first); generated lists every id run.c sampled, in order (positions "
             "len(prompt_tokens)-1 .. steps-1; a final 1 would be the BOS on which run.c stops); stdout is "
             "run.c's exact standard output. Written by tools/llama2c_reference.sh.",
    "source": "https://github.com/karpathy/llama2.c run.c at commit " + commit,
    "build": build,
    "model": "stories260K.bin",
    "model_sha256": sha(model),
    "tokenizer": "tok512.bin",
    "tokenizer_sha256": sha(tok),
    "steps": int(steps),
    "runs": runs,
}
text = json.dumps(doc, indent=1, ensure_ascii=False)
# Lists of ids on one line each.
text = re.sub(r"\[\n\s+(\d+(?:,\n\s+\d+)*)\n\s+\]", lambda m: "[" + re.sub(r",\n\s+", ", ", m.group(1)) + "]", text)
with open(out, "w") as f:
    f.write(text + "\n")
print("wrote", out, "with", len(runs), "runs:", [len(r["generated"]) for r in runs], "sampled ids")
EOF
