package nn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gograd/gograd"
)

// This file reads Hugging Face model folders: the safetensors weights,
// one file or several shards listed by an index, and the config.json of
// the LLaMA family (LLaMA 1-3, Mistral, Mixtral).

// Files of a Hugging Face model folder.
const (
	// SafetensorsSingle is the weights of an unsharded model.
	SafetensorsSingle = "model.safetensors"
	// SafetensorsIndex maps each tensor of a sharded model to its shard.
	SafetensorsIndex = "model.safetensors.index.json"
	// ConfigFile is the model's configuration.
	ConfigFile = "config.json"
)

// maxJSON bounds the size of the JSON files read from a folder (an index
// of a very large model is a few hundred kilobytes).
const maxJSON = 64 << 20

// SafetensorsDir is the weights of a Hugging Face model folder, read by
// LoadSafetensorsDir: one or several safetensors files, each mapped into
// memory as LoadSafetensors does, seen as one set of tensors.
type SafetensorsDir struct {
	// Dir is the folder.
	Dir string
	// Files are the safetensors files, in the order of their names.
	Files []*SafetensorsFile

	where map[string]*SafetensorsFile
	names []string // sorted
}

// LoadSafetensorsDir reads the weights of the model folder dir: the file
// model.safetensors if there is one (as Hugging Face's loader prefers it),
// otherwise the shards that model.safetensors.index.json lists in its
// "weight_map" (tensor name to file name). Every file is read with
// LoadSafetensors (memory-mapped, nothing copied). An index must name files
// inside dir (a name that is absolute or climbs out with ".." is an error;
// a symbolic link, as in Hugging Face's cache, is followed), every file it
// names must exist and hold the tensors the index puts there, and every
// tensor of a shard must be in the index, at that shard. Errors name the
// folder or the file and the problem.
func LoadSafetensorsDir(dir string) (*SafetensorsDir, error) {
	fail := func(format string, args ...any) (*SafetensorsDir, error) {
		return nil, fmt.Errorf("nn: LoadSafetensorsDir: %s", fmt.Sprintf(format, args...))
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fail("%v", err)
	}
	if !st.IsDir() {
		return fail("%s is not a folder", dir)
	}
	d := &SafetensorsDir{Dir: dir, where: map[string]*SafetensorsFile{}}
	single := filepath.Join(dir, SafetensorsSingle)
	if _, err := os.Stat(single); err == nil {
		f, err := LoadSafetensors(single)
		if err != nil {
			return nil, err
		}
		d.Files = []*SafetensorsFile{f}
		for _, name := range f.names {
			d.where[name] = f
		}
		d.names = slices.Clone(f.names)
		return d, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail("%v", err)
	}
	indexPath := filepath.Join(dir, SafetensorsIndex)
	raw, err := readSmall(indexPath)
	if errors.Is(err, fs.ErrNotExist) {
		return fail("%s has neither %s nor %s", dir, SafetensorsSingle, SafetensorsIndex)
	}
	if err != nil {
		return fail("%v", err)
	}
	index, err := parseIndex(raw)
	if err != nil {
		return fail("%s: %v", indexPath, err)
	}
	// The shards, each read once, by name.
	shards := map[string][]string{} // file -> tensors the index puts there
	for name, file := range index {
		shards[file] = append(shards[file], name)
	}
	files := make([]string, 0, len(shards))
	for file := range shards {
		files = append(files, file)
	}
	slices.Sort(files)
	for _, file := range files {
		path := filepath.Join(dir, filepath.FromSlash(file))
		f, err := LoadSafetensors(path)
		if errors.Is(err, fs.ErrNotExist) {
			return fail("%s: shard %s, which holds %d tensors (%s, ...), is missing", indexPath, file, len(shards[file]), clip(minString(shards[file])))
		}
		if err != nil {
			return nil, err
		}
		for _, name := range shards[file] {
			if _, ok := f.infos[name]; !ok {
				return fail("%s: tensor %q, which the index puts in it, is not there", path, clip(name))
			}
		}
		for _, name := range f.names {
			if want, ok := index[name]; !ok {
				return fail("%s: tensor %q is not in the index %s", path, clip(name), SafetensorsIndex)
			} else if want != file {
				return fail("%s: tensor %q is there, but the index puts it in %s", path, clip(name), clip(want))
			}
		}
		d.Files = append(d.Files, f)
		for _, name := range shards[file] {
			d.where[name] = f
		}
	}
	d.names = make([]string, 0, len(index))
	for name := range index {
		d.names = append(d.names, name)
	}
	slices.Sort(d.names)
	return d, nil
}

// minString returns the least of names (for a stable error message).
func minString(names []string) string { return slices.Min(names) }

// readSmall reads a JSON file of at most maxJSON bytes.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJSON+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJSON {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxJSON)
	}
	return b, nil
}

// parseIndex reads a safetensors index: a JSON object whose "weight_map"
// maps every tensor name to the file (a local, slash-separated path) that
// holds it. Other members ("metadata") are ignored.
func parseIndex(raw []byte) (map[string]string, error) {
	var idx struct {
		WeightMap map[string]any `json:"weight_map"`
	}
	if err := strictJSON(raw, &idx); err != nil {
		return nil, err
	}
	if len(idx.WeightMap) == 0 {
		return nil, errors.New(`no "weight_map", or an empty one`)
	}
	out := make(map[string]string, len(idx.WeightMap))
	for name, v := range idx.WeightMap {
		file, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("weight_map[%q] is %s, not a file name", clip(name), clip(fmt.Sprint(v)))
		}
		if !localName(file) {
			return nil, fmt.Errorf("weight_map[%q] names %q, which is not a file inside the folder", clip(name), clip(file))
		}
		out[name] = file
	}
	return out, nil
}

// localName reports whether a file name of an index stays inside the
// folder: relative, without ".." components or backslashes, not empty.
func localName(file string) bool {
	if file == "" || strings.ContainsAny(file, "\\\x00") || !filepath.IsLocal(filepath.FromSlash(file)) {
		return false
	}
	return !slices.Contains(strings.Split(file, "/"), "..")
}

// strictJSON decodes one JSON value from raw into v, which must be the
// whole of raw (apart from white space); the top level must be an object.
func strictJSON(raw []byte, v any) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("JSON: more after the object")
	}
	return nil
}

// Names returns the names of every tensor of the folder, sorted.
func (d *SafetensorsDir) Names() []string { return slices.Clone(d.names) }

// Info describes the tensor name, or reports false if there is none.
func (d *SafetensorsDir) Info(name string) (TensorInfo, bool) {
	f, ok := d.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// File returns the safetensors file that holds the tensor name.
func (d *SafetensorsDir) File(name string) (*SafetensorsFile, bool) {
	f, ok := d.where[name]
	return f, ok
}

// Tensor returns the tensor name over its file's memory, as
// SafetensorsFile.Tensor does, or an error naming the folder and the
// tensor if it has none.
func (d *SafetensorsDir) Tensor(name string) (*gograd.Tensor, error) {
	f, ok := d.where[name]
	if !ok {
		return nil, fmt.Errorf("nn: SafetensorsDir: %s has no tensor %q", d.Dir, name)
	}
	return f.Tensor(name)
}

// StateDict returns every tensor of the folder by name (see Tensor).
func (d *SafetensorsDir) StateDict() map[string]*gograd.Tensor {
	out := make(map[string]*gograd.Tensor, len(d.names))
	for _, name := range d.names {
		out[name], _ = d.Tensor(name)
	}
	return out
}

// LlamaConfig is the config.json of a LLaMA-family model (LLaMA 1, 2 and 3,
// Mistral, Mixtral), as Hugging Face's LlamaConfig names its fields.
// ReadConfig fills the fields a file leaves out with LlamaConfig's
// defaults where the model's shape does not depend on them.
type LlamaConfig struct {
	// Architectures is "architectures", such as ["LlamaForCausalLM"].
	Architectures []string
	// ModelType is "model_type": "llama", "mistral", "mixtral", ...
	ModelType string
	// HiddenSize is "hidden_size", the model width.
	HiddenSize int
	// IntermediateSize is "intermediate_size", the SwiGLU width.
	IntermediateSize int
	// NumHiddenLayers is "num_hidden_layers".
	NumHiddenLayers int
	// NumAttentionHeads is "num_attention_heads".
	NumAttentionHeads int
	// NumKeyValueHeads is "num_key_value_heads" (NumAttentionHeads when
	// absent: no grouped-query attention).
	NumKeyValueHeads int
	// HeadDim is "head_dim" (HiddenSize/NumAttentionHeads when absent).
	HeadDim int
	// VocabSize is "vocab_size".
	VocabSize int
	// MaxPositionEmbeddings is "max_position_embeddings" (2048 when
	// absent).
	MaxPositionEmbeddings int
	// RMSNormEps is "rms_norm_eps" (1e-6 when absent).
	RMSNormEps float64
	// RopeTheta is "rope_theta", RoPE's base (10000 when absent).
	RopeTheta float64
	// RopeScaling is "rope_scaling", nil when absent or null.
	RopeScaling *RopeScaling
	// TieWordEmbeddings is "tie_word_embeddings": the output projection is
	// the token embedding (false when absent, as for LlamaConfig).
	TieWordEmbeddings bool
	// BOSTokenID and EOSTokenID are "bos_token_id" and "eos_token_id",
	// each a number or a list (LLaMA 3.1 ends at any of three tokens);
	// nil when absent or null.
	BOSTokenID, EOSTokenID []int
	// HiddenAct is "hidden_act" ("silu" when absent).
	HiddenAct string
	// TorchDType is "torch_dtype", the weights' type ("" when absent).
	TorchDType string
	// NumLocalExperts and NumExpertsPerTok are Mixtral's
	// "num_local_experts" and "num_experts_per_tok" (0 for a dense model).
	NumLocalExperts, NumExpertsPerTok int
	// Raw is the whole file, for the fields not above.
	Raw map[string]any
}

// RopeScaling is the "rope_scaling" member of a config.json.
type RopeScaling struct {
	// Type is "rope_type" (or the older "type"): "llama3", "linear",
	// "dynamic", "yarn", ...
	Type string
	// Factor is "factor", how many times the context is stretched.
	Factor float64
	// LowFreqFactor, HighFreqFactor and OriginalMaxPositionEmbeddings are
	// LLaMA 3's "low_freq_factor", "high_freq_factor" and
	// "original_max_position_embeddings" (zero when absent).
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositionEmbeddings int
}

// ReadConfig reads the config.json of the model folder dir. A file that is
// not a JSON object, a field of the wrong type, a missing or non-positive
// size (hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads, vocab_size), heads that do not divide the width or
// each other, or a "llama3" rope_scaling without its four parameters is an
// error naming the file and the problem.
func ReadConfig(dir string) (*LlamaConfig, error) {
	path := filepath.Join(dir, ConfigFile)
	raw, err := readSmall(path)
	if err != nil {
		return nil, fmt.Errorf("nn: ReadConfig: %w", err)
	}
	c, err := parseLlamaConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("nn: ReadConfig: %s: %w", path, err)
	}
	return c, nil
}

// parseLlamaConfig reads and checks the bytes of a config.json.
func parseLlamaConfig(raw []byte) (*LlamaConfig, error) {
	var m map[string]any
	if err := strictJSON(raw, &m); err != nil {
		return nil, err
	}
	c := &LlamaConfig{Raw: m}
	r := cfgReader{m: m}
	c.Architectures = r.strings("architectures")
	c.ModelType = r.str("model_type", "")
	c.HiddenSize = r.size("hidden_size", 0)
	c.IntermediateSize = r.size("intermediate_size", 0)
	c.NumHiddenLayers = r.size("num_hidden_layers", 0)
	c.NumAttentionHeads = r.size("num_attention_heads", 0)
	c.NumKeyValueHeads = r.size("num_key_value_heads", c.NumAttentionHeads)
	c.VocabSize = r.size("vocab_size", 0)
	headDim := 0
	if c.NumAttentionHeads > 0 {
		headDim = c.HiddenSize / c.NumAttentionHeads
	}
	c.HeadDim = r.size("head_dim", headDim)
	c.MaxPositionEmbeddings = r.size("max_position_embeddings", 2048)
	c.RMSNormEps = r.float("rms_norm_eps", 1e-6)
	c.RopeTheta = r.float("rope_theta", 10000)
	c.TieWordEmbeddings = r.boolean("tie_word_embeddings", false)
	c.BOSTokenID = r.ids("bos_token_id")
	c.EOSTokenID = r.ids("eos_token_id")
	c.HiddenAct = r.str("hidden_act", "silu")
	c.TorchDType = r.str("torch_dtype", "")
	c.NumLocalExperts = r.size("num_local_experts", 0)
	c.NumExpertsPerTok = r.size("num_experts_per_tok", 0)
	if v, ok := m["rope_scaling"]; ok && v != nil {
		obj, ok := v.(map[string]any)
		if !ok {
			r.bad("rope_scaling", "an object")
		} else {
			s := cfgReader{m: obj, prefix: "rope_scaling."}
			rs := &RopeScaling{Type: s.str("rope_type", "")}
			if rs.Type == "" {
				rs.Type = s.str("type", "")
			}
			rs.Factor = s.float("factor", 0)
			rs.LowFreqFactor = s.float("low_freq_factor", 0)
			rs.HighFreqFactor = s.float("high_freq_factor", 0)
			rs.OriginalMaxPositionEmbeddings = s.size("original_max_position_embeddings", 0)
			c.RopeScaling = rs
			if s.err != nil {
				r.err = s.err
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, c.check()
}

// check validates the sizes of a config.
func (c *LlamaConfig) check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"num_key_value_heads", c.NumKeyValueHeads}, {"head_dim", c.HeadDim},
		{"vocab_size", c.VocabSize}, {"max_position_embeddings", c.MaxPositionEmbeddings}} {
		if f.v <= 0 {
			return fmt.Errorf("%s is missing or not positive (%d)", f.name, f.v)
		}
	}
	if _, set := c.Raw["head_dim"]; !set && c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.NumKeyValueHeads > c.NumAttentionHeads || c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumAttentionHeads, c.NumKeyValueHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("head size %d is odd, and RoPE rotates pairs", c.HeadDim)
	}
	if !(c.RMSNormEps > 0) || !(c.RopeTheta > 0) {
		return fmt.Errorf("rms_norm_eps %g and rope_theta %g must be positive", c.RMSNormEps, c.RopeTheta)
	}
	if c.NumExpertsPerTok > c.NumLocalExperts {
		return fmt.Errorf("num_experts_per_tok %d is more than num_local_experts %d", c.NumExpertsPerTok, c.NumLocalExperts)
	}
	if s := c.RopeScaling; s != nil {
		switch s.Type {
		case "llama3":
			if !(s.Factor >= 1) || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPositionEmbeddings <= 0 {
				return fmt.Errorf("rope_scaling of type llama3 needs factor >= 1, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0: %+v", *s)
			}
		case "linear", "dynamic":
			if !(s.Factor > 0) {
				return fmt.Errorf("rope_scaling of type %s needs a positive factor: %+v", s.Type, *s)
			}
		case "":
			return errors.New(`rope_scaling has no "rope_type" or "type"`)
		}
	}
	return nil
}

// cfgReader reads typed fields of a JSON object, keeping the first error.
type cfgReader struct {
	m      map[string]any
	prefix string
	err    error
}

// bad records that field is not what it should be.
func (r *cfgReader) bad(field, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s%s is %s, not %s", r.prefix, field, clip(fmt.Sprintf("%v", r.m[field])), want)
	}
}

// get returns the field, or false if it is absent or null.
func (r *cfgReader) get(field string) (any, bool) {
	v, ok := r.m[field]
	return v, ok && v != nil
}

func (r *cfgReader) size(field string, def int) int {
	v, ok := r.get(field)
	if !ok {
		return def
	}
	f, ok := v.(float64)
	if !ok || f != float64(int(f)) || f < 0 || f > 1<<40 {
		r.bad(field, "a size")
		return def
	}
	return int(f)
}

func (r *cfgReader) float(field string, def float64) float64 {
	v, ok := r.get(field)
	if !ok {
		return def
	}
	f, ok := v.(float64)
	if !ok {
		r.bad(field, "a number")
		return def
	}
	return f
}

func (r *cfgReader) boolean(field string, def bool) bool {
	v, ok := r.get(field)
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		r.bad(field, "true or false")
		return def
	}
	return b
}

func (r *cfgReader) str(field, def string) string {
	v, ok := r.get(field)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		r.bad(field, "a string")
		return def
	}
	return s
}

func (r *cfgReader) strings(field string) []string {
	v, ok := r.get(field)
	if !ok {
		return nil
	}
	list, ok := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, isStr := x.(string)
		if !isStr {
			ok = false
			break
		}
		out = append(out, s)
	}
	if !ok {
		r.bad(field, "a list of strings")
		return nil
	}
	return out
}

// ids reads a token id or a list of them.
func (r *cfgReader) ids(field string) []int {
	v, ok := r.get(field)
	if !ok {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	out := make([]int, 0, len(list))
	for _, x := range list {
		f, ok := x.(float64)
		if !ok || f != float64(int(f)) || f < 0 || f > 1<<40 {
			r.bad(field, "a token id or a list of them")
			return nil
		}
		out = append(out, int(f))
	}
	return out
}
