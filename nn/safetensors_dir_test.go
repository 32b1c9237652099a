package nn

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gograd/gograd"
)

// writeShard writes tensors as the safetensors file dir/name.
func writeShard(t *testing.T, dir, name string, tensors map[string]*gograd.Tensor) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, tensors, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeJSON writes v (or a string as it is) as the file dir/name.
func writeJSON(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, ok := v.(string)
	if !ok {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b = string(raw)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// indexJSON is a safetensors index of weight map m.
func indexJSON(m map[string]string) map[string]any {
	return map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": m}
}

// shardedDir writes a model in two shards and its index, the layout of
// save_pretrained: model-00001-of-00002.safetensors, ...
func shardedDir(t *testing.T) string {
	dir := t.TempDir()
	writeShard(t, dir, "model-00001-of-00002.safetensors", map[string]*gograd.Tensor{
		"model.embed_tokens.weight": gograd.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 3, 2),
		"model.norm.weight":         gograd.FromSlice([]float32{0.5, 0.25}, 2),
	})
	writeShard(t, dir, "model-00002-of-00002.safetensors", map[string]*gograd.Tensor{
		"lm_head.weight": gograd.FromSlice([]float32{-1, -2, -3, -4, -5, -6}, 3, 2),
	})
	writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{
		"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
		"model.norm.weight":         "model-00001-of-00002.safetensors",
		"lm_head.weight":            "model-00002-of-00002.safetensors",
	}))
	return dir
}

func TestSafetensorsDirSharded(t *testing.T) {
	dir := shardedDir(t)
	d, err := LoadSafetensorsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"}
	if got := d.Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	if len(d.Files) != 2 || filepath.Base(d.Files[0].Path) != "model-00001-of-00002.safetensors" {
		t.Errorf("Files = %v", d.Files)
	}
	info, ok := d.Info("lm_head.weight")
	if !ok || info.DType != gograd.Float32 || !slices.Equal(info.Shape, []int{3, 2}) {
		t.Errorf("Info(lm_head.weight) = %+v, %v", info, ok)
	}
	if _, ok := d.Info("nope"); ok {
		t.Error("Info of a missing tensor: ok")
	}
	if f, ok := d.File("model.norm.weight"); !ok || f != d.Files[0] {
		t.Errorf("File(model.norm.weight) = %v, %v", f, ok)
	}
	for name, vals := range map[string][]float32{
		"lm_head.weight":            {-1, -2, -3, -4, -5, -6},
		"model.embed_tokens.weight": {1, 2, 3, 4, 5, 6},
		"model.norm.weight":         {0.5, 0.25},
	} {
		x, err := d.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := x.Float32s(); !slices.Equal(got, vals) {
			t.Errorf("%s = %v, want %v", name, got, vals)
		}
	}
	if _, err := d.Tensor("nope"); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Tensor of a missing name: %v", err)
	}
	if sd := d.StateDict(); len(sd) != 3 || sd["model.norm.weight"] == nil {
		t.Errorf("StateDict = %v", sd)
	}
}

func TestSafetensorsDirSingle(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, dir, SafetensorsSingle, map[string]*gograd.Tensor{"w": gograd.FromSlice([]float32{7, 8}, 2)})
	// An index beside model.safetensors is ignored, as Hugging Face's
	// loader ignores it.
	writeJSON(t, dir, SafetensorsIndex, "not json")
	d, err := LoadSafetensorsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Names(), []string{"w"}) || len(d.Files) != 1 {
		t.Fatalf("Names %v, %d files", d.Names(), len(d.Files))
	}
	x, err := d.Tensor("w")
	if err != nil || !slices.Equal(x.Float32s(), []float32{7, 8}) {
		t.Errorf("Tensor(w) = %v, %v", x, err)
	}
}

// TestSafetensorsDirSymlink follows shards that are symbolic links out of
// the folder, as in Hugging Face's cache (snapshots/<rev>/ links to
// ../../blobs/).
func TestSafetensorsDirSymlink(t *testing.T) {
	blobs, dir := t.TempDir(), t.TempDir()
	writeShard(t, blobs, "blob1", map[string]*gograd.Tensor{"a": gograd.FromSlice([]float32{1}, 1)})
	if err := os.Symlink(filepath.Join(blobs, "blob1"), filepath.Join(dir, "model-00001-of-00001.safetensors")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": "model-00001-of-00001.safetensors"}))
	if _, err := LoadSafetensorsDir(dir); err != nil {
		t.Fatal(err)
	}
}

// TestSafetensorsDirErrors checks that a broken folder is an error that
// names the file and the problem.
func TestSafetensorsDirErrors(t *testing.T) {
	shard1 := "model-00001-of-00002.safetensors"
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"empty folder", func(t *testing.T, dir string) {}, "has neither model.safetensors nor model.safetensors.index.json"},
		{"index not json", func(t *testing.T, dir string) { writeJSON(t, dir, SafetensorsIndex, "{weight_map") }, "model.safetensors.index.json: JSON: "},
		{"index an array", func(t *testing.T, dir string) { writeJSON(t, dir, SafetensorsIndex, "[1]") }, "not a JSON object"},
		{"index trailing", func(t *testing.T, dir string) { writeJSON(t, dir, SafetensorsIndex, `{"weight_map":{"a":"x"}} {}`) }, "more after the object"},
		{"no weight_map", func(t *testing.T, dir string) { writeJSON(t, dir, SafetensorsIndex, `{"metadata":{}}`) }, `no "weight_map"`},
		{"weight_map list", func(t *testing.T, dir string) { writeJSON(t, dir, SafetensorsIndex, `{"weight_map":["a"]}`) }, "JSON: "},
		{"file not a string", func(t *testing.T, dir string) { writeJSON(t, dir, SafetensorsIndex, `{"weight_map":{"a":3}}`) }, `weight_map["a"] is 3, not a file name`},
		{"parent", func(t *testing.T, dir string) {
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": "../x.safetensors"}))
		}, `names "../x.safetensors", which is not a file inside the folder`},
		{"parent inside", func(t *testing.T, dir string) {
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": "sub/../x.safetensors"}))
		}, "not a file inside the folder"},
		{"absolute", func(t *testing.T, dir string) {
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": "/etc/passwd"}))
		}, "not a file inside the folder"},
		{"backslash", func(t *testing.T, dir string) {
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": `..\x.safetensors`}))
		}, "not a file inside the folder"},
		{"empty name", func(t *testing.T, dir string) {
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": ""}))
		}, "not a file inside the folder"},
		{"missing shard", func(t *testing.T, dir string) {
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"b": shard1, "a": shard1}))
		}, "shard " + shard1 + `, which holds 2 tensors (a, ...), is missing`},
		{"tensor not in shard", func(t *testing.T, dir string) {
			writeShard(t, dir, shard1, map[string]*gograd.Tensor{"a": gograd.Ones(1)})
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": shard1, "b": shard1}))
		}, shard1 + `: tensor "b", which the index puts in it, is not there`},
		{"tensor not in index", func(t *testing.T, dir string) {
			writeShard(t, dir, shard1, map[string]*gograd.Tensor{"a": gograd.Ones(1), "c": gograd.Ones(1)})
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": shard1}))
		}, shard1 + `: tensor "c" is not in the index`},
		{"tensor in two shards", func(t *testing.T, dir string) {
			writeShard(t, dir, shard1, map[string]*gograd.Tensor{"a": gograd.Ones(1), "b": gograd.Ones(1)})
			writeShard(t, dir, "two.safetensors", map[string]*gograd.Tensor{"b": gograd.Ones(1)})
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": shard1, "b": "two.safetensors"}))
		}, shard1 + `: tensor "b" is there, but the index puts it in two.safetensors`},
		{"corrupt shard", func(t *testing.T, dir string) {
			writeJSON(t, dir, shard1, "\x10\x00\x00\x00\x00\x00\x00\x00{}")
			writeJSON(t, dir, SafetensorsIndex, indexJSON(map[string]string{"a": shard1}))
		}, shard1 + ": header size 16 runs past the end of the file"},
		{"corrupt single", func(t *testing.T, dir string) {
			writeJSON(t, dir, SafetensorsSingle, "abc")
		}, "model.safetensors: file of 3 bytes is shorter than the 8-byte header size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(t, dir)
			d, err := LoadSafetensorsDir(dir)
			if err == nil {
				t.Fatalf("no error; names %v", d.Names())
			}
			if !strings.HasPrefix(err.Error(), "nn: LoadSafetensors") || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one naming %s and containing %q", err, dir, c.want)
			}
		})
	}
	if _, err := LoadSafetensorsDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing folder: no error")
	}
	file := filepath.Join(t.TempDir(), "file")
	writeJSON(t, filepath.Dir(file), "file", "{}")
	if _, err := LoadSafetensorsDir(file); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("a file as the folder: %v", err)
	}
}

// Configs as the Hugging Face hub has them (abridged to the fields read).
const (
	llama2Config = `{
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
  "torch_dtype": "float16", "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000}`
	llama31Config = `{
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256}`
	llama32Config = `{
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64,
  "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 131072, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "vocab_size": 128256}`
	mixtralConfig = `{
  "architectures": ["MixtralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mixtral",
  "num_attention_heads": 32, "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "num_local_experts": 8, "rms_norm_eps": 1e-05, "rope_theta": 1e6, "sliding_window": null,
  "tie_word_embeddings": false, "vocab_size": 32000}`
	minimalConfig = `{"hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 3,
  "num_attention_heads": 4, "vocab_size": 96}`
)

func TestReadConfig(t *testing.T) {
	llama3 := &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
	cases := []struct {
		name, json string
		want       LlamaConfig
	}{
		{"llama2", llama2Config, LlamaConfig{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
			HiddenSize: 4096, IntermediateSize: 11008, NumHiddenLayers: 32, NumAttentionHeads: 32, NumKeyValueHeads: 32,
			HeadDim: 128, VocabSize: 32000, MaxPositionEmbeddings: 4096, RMSNormEps: 1e-5, RopeTheta: 10000,
			BOSTokenID: []int{1}, EOSTokenID: []int{2}, HiddenAct: "silu", TorchDType: "float16"}},
		{"llama3.1", llama31Config, LlamaConfig{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
			HiddenSize: 4096, IntermediateSize: 14336, NumHiddenLayers: 32, NumAttentionHeads: 32, NumKeyValueHeads: 8,
			HeadDim: 128, VocabSize: 128256, MaxPositionEmbeddings: 131072, RMSNormEps: 1e-5, RopeTheta: 500000,
			RopeScaling: llama3, BOSTokenID: []int{128000}, EOSTokenID: []int{128001, 128008, 128009},
			HiddenAct: "silu", TorchDType: "bfloat16"}},
		{"llama3.2", llama32Config, LlamaConfig{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
			HiddenSize: 2048, IntermediateSize: 8192, NumHiddenLayers: 16, NumAttentionHeads: 32, NumKeyValueHeads: 8,
			HeadDim: 64, VocabSize: 128256, MaxPositionEmbeddings: 131072, RMSNormEps: 1e-5, RopeTheta: 500000,
			RopeScaling:       &RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192},
			TieWordEmbeddings: true, BOSTokenID: []int{128000}, EOSTokenID: []int{128001}, HiddenAct: "silu", TorchDType: "bfloat16"}},
		{"mixtral", mixtralConfig, LlamaConfig{Architectures: []string{"MixtralForCausalLM"}, ModelType: "mixtral",
			HiddenSize: 4096, IntermediateSize: 14336, NumHiddenLayers: 32, NumAttentionHeads: 32, NumKeyValueHeads: 8,
			HeadDim: 128, VocabSize: 32000, MaxPositionEmbeddings: 32768, RMSNormEps: 1e-5, RopeTheta: 1e6,
			BOSTokenID: []int{1}, EOSTokenID: []int{2}, HiddenAct: "silu", NumLocalExperts: 8, NumExpertsPerTok: 2}},
		{"defaults", minimalConfig, LlamaConfig{HiddenSize: 64, IntermediateSize: 160, NumHiddenLayers: 3,
			NumAttentionHeads: 4, NumKeyValueHeads: 4, HeadDim: 16, VocabSize: 96, MaxPositionEmbeddings: 2048,
			RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu"}},
		{"old rope type", strings.Replace(minimalConfig, `"vocab_size"`, `"rope_scaling": {"type": "linear", "factor": 2.0}, "vocab_size"`, 1),
			LlamaConfig{HiddenSize: 64, IntermediateSize: 160, NumHiddenLayers: 3, NumAttentionHeads: 4, NumKeyValueHeads: 4,
				HeadDim: 16, VocabSize: 96, MaxPositionEmbeddings: 2048, RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu",
				RopeScaling: &RopeScaling{Type: "linear", Factor: 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeJSON(t, dir, ConfigFile, c.json)
			got, err := ReadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.Raw == nil {
				t.Error("no Raw")
			}
			got.Raw = nil
			if !reflect.DeepEqual(*got, c.want) {
				t.Errorf("ReadConfig =\n%+v\nwant\n%+v", *got, c.want)
			}
		})
	}
}

// TestReadConfigFixture reads the config of the random LLaMA that
// tools/llama_random.py writes (testdata/llama/random_hf).
func TestReadConfigFixture(t *testing.T) {
	dir := "../testdata/llama/random_hf"
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil {
		t.Skipf("skipping: %v (written by tools/llama_random.py)", err)
	}
	c, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 256}
	if c.HiddenSize != 32 || c.NumAttentionHeads != 4 || c.NumKeyValueHeads != 2 || c.HeadDim != 8 || c.IntermediateSize != 96 ||
		c.NumHiddenLayers != 3 || c.VocabSize != 96 || c.TieWordEmbeddings || c.RopeTheta != 500000 || !reflect.DeepEqual(c.RopeScaling, want) {
		t.Errorf("config %+v, rope_scaling %+v", c, c.RopeScaling)
	}
	d, err := LoadSafetensorsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Names()); n != 3+9*c.NumHiddenLayers {
		t.Errorf("%d tensors, want %d", n, 3+9*c.NumHiddenLayers)
	}
	if info, ok := d.Info("model.layers.2.self_attn.k_proj.weight"); !ok || !slices.Equal(info.Shape, []int{16, 32}) {
		t.Errorf("k_proj: %+v, %v", info, ok)
	}
	if info, ok := d.Info("model.embed_tokens.weight"); !ok || info.DType != gograd.BFloat16 || !slices.Equal(info.Shape, []int{96, 32}) {
		t.Errorf("embed_tokens: %+v, %v", info, ok)
	}
}

func TestReadConfigErrors(t *testing.T) {
	set := func(field, value string) string {
		return strings.Replace(minimalConfig, `"vocab_size": 96`, `"vocab_size": 96, "`+field+`": `+value, 1)
	}
	cases := []struct{ name, json, want string }{
		{"empty", "", "not a JSON object"},
		{"array", "[]", "not a JSON object"},
		{"malformed", `{"hidden_size": 64,}`, "JSON: "},
		{"trailing", minimalConfig + "}", "more after the object"},
		{"no hidden_size", strings.Replace(minimalConfig, `"hidden_size": 64,`, "", 1), "hidden_size is missing or not positive (0)"},
		{"string size", strings.Replace(minimalConfig, `"hidden_size": 64`, `"hidden_size": "64"`, 1), "hidden_size is 64, not a size"},
		{"fractional size", strings.Replace(minimalConfig, `"hidden_size": 64`, `"hidden_size": 64.5`, 1), "hidden_size is 64.5, not a size"},
		{"negative layers", strings.Replace(minimalConfig, `"num_hidden_layers": 3`, `"num_hidden_layers": -3`, 1), "num_hidden_layers is -3, not a size"},
		{"heads do not divide", strings.Replace(minimalConfig, `"num_attention_heads": 4`, `"num_attention_heads": 5`, 1), "hidden_size 64 is not a multiple of num_attention_heads 5"},
		{"kv heads", set("num_key_value_heads", "3"), "num_attention_heads 4 is not a multiple of num_key_value_heads 3"},
		{"odd head_dim", set("head_dim", "15"), "head size 15 is odd"},
		{"eps", set("rms_norm_eps", "0"), "rms_norm_eps 0"},
		{"theta string", set("rope_theta", `"big"`), "rope_theta is big, not a number"},
		{"tie string", set("tie_word_embeddings", `"yes"`), "tie_word_embeddings is yes, not true or false"},
		{"eos strings", set("eos_token_id", `["</s>"]`), "eos_token_id is [</s>], not a token id or a list of them"},
		{"architectures", set("architectures", `"Llama"`), "architectures is Llama, not a list of strings"},
		{"rope_scaling list", set("rope_scaling", `[8]`), "rope_scaling is [8], not an object"},
		{"rope_scaling no type", set("rope_scaling", `{"factor": 8}`), `rope_scaling has no "rope_type" or "type"`},
		{"llama3 incomplete", set("rope_scaling", `{"rope_type": "llama3", "factor": 8}`), "rope_scaling of type llama3 needs"},
		{"llama3 bad factor", set("rope_scaling", `{"rope_type": "llama3", "factor": "8", "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 64}`),
			"rope_scaling.factor is 8, not a number"},
		{"linear no factor", set("rope_scaling", `{"type": "linear"}`), "rope_scaling of type linear needs a positive factor"},
		{"experts", set("num_experts_per_tok", "2"), "num_experts_per_tok 2 is more than num_local_experts 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeJSON(t, dir, ConfigFile, c.json)
			_, err := ReadConfig(dir)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "nn: ReadConfig: "+filepath.Join(dir, ConfigFile)+": ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one naming %s and containing %q", err, ConfigFile, c.want)
			}
		})
	}
	if _, err := ReadConfig(t.TempDir()); err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Errorf("no config.json: %v", err)
	}
}

// FuzzHFJSON feeds the index and config parsers arbitrary JSON: they must
// not panic, and what they accept must hold together.
func FuzzHFJSON(f *testing.F) {
	for _, s := range []string{llama2Config, llama31Config, llama32Config, mixtralConfig, minimalConfig,
		`{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"sub/x.safetensors"}}`, `{"weight_map":{"a":"../x"}}`,
		`{"weight_map":{"a":1}}`, `{}`, `[]`, `{"rope_scaling":{"rope_type":"llama3"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if m, err := parseIndex(raw); err == nil {
			for name, file := range m {
				if !localName(file) || slices.Contains(strings.Split(file, "/"), "..") || filepath.IsAbs(file) {
					t.Fatalf("%q: file %q accepted", name, file)
				}
			}
		}
		if c, err := parseLlamaConfig(raw); err == nil {
			if c.HiddenSize <= 0 || c.NumAttentionHeads <= 0 || c.NumKeyValueHeads <= 0 || c.NumAttentionHeads%c.NumKeyValueHeads != 0 || c.HeadDim%2 != 0 {
				t.Fatalf("config accepted: %+v", c)
			}
		}
	})
}
