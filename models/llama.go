package models

import (
	"errors"
	"fmt"
	"math"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/jit"
)

// LlamaConfig is the shape of a LLaMA-family model.
type LlamaConfig struct {
	Dim       int // model (embedding) width
	HiddenDim int // SwiGLU feed-forward width
	Layers    int
	Heads     int // query heads
	KVHeads   int // key/value heads (fewer with grouped-query attention)
	HeadDim   int // width of a head: Dim/Heads unless the file says otherwise
	Vocab     int
	Context   int     // longest sequence the model was trained for
	NormEps   float64 // RMSNorm's epsilon
	RopeTheta float64 // base of the rotary frequencies
	// RopeFreqFactors divide the rotary frequencies one by one (LLaMA 3's
	// scaling; GGUF's rope_freqs.weight), HeadDim/2 of them, or nil.
	RopeFreqFactors []float32
}

// Check reports a configuration that cannot describe a model.
func (c LlamaConfig) Check() error {
	switch {
	case c.Dim <= 0 || c.HiddenDim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.Vocab <= 0 || c.HeadDim <= 0:
		return fmt.Errorf("models: LLaMA config %+v has a size that is not positive", c)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("models: LLaMA config: %d heads do not share %d key/value heads evenly", c.Heads, c.KVHeads)
	case c.HeadDim%2 != 0:
		return fmt.Errorf("models: LLaMA config: head width %d is odd (RoPE rotates pairs)", c.HeadDim)
	case c.RopeFreqFactors != nil && len(c.RopeFreqFactors) != c.HeadDim/2:
		return fmt.Errorf("models: LLaMA config: %d RoPE frequency factors for head width %d", len(c.RopeFreqFactors), c.HeadDim)
	case !(c.RopeTheta > 0) || !(c.NormEps >= 0):
		return fmt.Errorf("models: LLaMA config: RoPE base %v, norm epsilon %v", c.RopeTheta, c.NormEps)
	}
	return nil
}

// Llama is a LLaMA-family model: its weights, by layer.
type Llama struct {
	Config LlamaConfig
	Embed  *Weight // [Vocab, Dim]
	Layers []LlamaLayer
	Norm   *g.Tensor // [Dim]
	Output *Weight   // [Vocab, Dim]; Embed itself when tied
	// KVCache is the type a new session keeps its keys and values in:
	// float32 (also for the zero value) or float16, as llama.cpp does by
	// default: half the bytes a step reads at long contexts, each key and
	// value rounded to half precision when it is written.
	KVCache g.DType
}

// LlamaLayer is one transformer block.
type LlamaLayer struct {
	AttnNorm, FFNNorm *g.Tensor // [Dim]
	Q, K, V, O        *Weight   // [Heads*HeadDim, Dim], [KVHeads*HeadDim, Dim] (twice), [Dim, Heads*HeadDim]
	Gate, Up, Down    *Weight   // [HiddenDim, Dim] (twice), [Dim, HiddenDim]
}

// check verifies that every weight has the shape the config implies.
func (m *Llama) check() error {
	c := m.Config
	if err := c.Check(); err != nil {
		return err
	}
	var errs []error
	mat := func(name string, w *Weight, out, in int) {
		switch {
		case w == nil:
			errs = append(errs, fmt.Errorf("%s is missing", name))
		case w.Out != out || w.In != in:
			errs = append(errs, fmt.Errorf("%s is %d x %d, want %d x %d", name, w.Out, w.In, out, in))
		}
	}
	vec := func(name string, t *g.Tensor, n int) {
		switch {
		case t == nil:
			errs = append(errs, fmt.Errorf("%s is missing", name))
		case t.Ndim() != 1 || t.Dim(0) != n:
			errs = append(errs, fmt.Errorf("%s has shape %v, want [%d]", name, t.Shape(), n))
		}
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	mat("token_embd.weight", m.Embed, c.Vocab, c.Dim)
	mat("output.weight", m.Output, c.Vocab, c.Dim)
	vec("output_norm.weight", m.Norm, c.Dim)
	if len(m.Layers) != c.Layers {
		errs = append(errs, fmt.Errorf("%d layers, want %d", len(m.Layers), c.Layers))
	}
	for i, l := range m.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		vec(p+"attn_norm.weight", l.AttnNorm, c.Dim)
		vec(p+"ffn_norm.weight", l.FFNNorm, c.Dim)
		mat(p+"attn_q.weight", l.Q, q, c.Dim)
		mat(p+"attn_k.weight", l.K, kv, c.Dim)
		mat(p+"attn_v.weight", l.V, kv, c.Dim)
		mat(p+"attn_output.weight", l.O, c.Dim, q)
		mat(p+"ffn_gate.weight", l.Gate, c.HiddenDim, c.Dim)
		mat(p+"ffn_up.weight", l.Up, c.HiddenDim, c.Dim)
		mat(p+"ffn_down.weight", l.Down, c.Dim, c.HiddenDim)
	}
	if len(errs) > 0 {
		return fmt.Errorf("models: LLaMA weights do not fit the config: %w", errors.Join(errs...))
	}
	return nil
}

// Session is one sequence being generated: the KV cache, the position, and
// the JIT-captured decoding step. A session is not safe for concurrent use.
type Session struct {
	m   *Llama
	cap int // the cache's length: the longest sequence the session holds
	pos int // tokens in the cache so far

	k, v      []*g.Tensor // per layer, [cap, KVHeads, HeadDim]
	cos, sin  *g.Tensor   // [cap, HeadDim/2]
	positions *g.Tensor   // int64 [cap]: 0, 1, ...
	rows      *g.Tensor   // [cap, Dim]: a prompt's embeddings

	posVar, tokVar, rowVar *g.Var
	steps                  map[int]*jit.JIT // by the keys a step attends to (see stepKeys)
	gather                 *jit.JIT
}

// NewSession starts a sequence of at most maxLen tokens (the model's
// context when maxLen <= 0 or larger).
func (m *Llama) NewSession(maxLen int) *Session {
	c := m.Config
	if maxLen <= 0 || (c.Context > 0 && maxLen > c.Context) {
		maxLen = c.Context
	}
	if maxLen <= 0 {
		panic("models: NewSession: no length given and the model has no context length")
	}
	kv := m.KVCache
	switch kv {
	case 0:
		kv = g.Float32
	case g.Float32, g.Float16:
	default:
		panic(fmt.Sprintf("models: NewSession: a KV cache of %v (want float32 or float16)", kv))
	}
	s := &Session{m: m, cap: maxLen}
	for range c.Layers {
		s.k = append(s.k, g.Zeros(maxLen, c.KVHeads, c.HeadDim).Cast(kv).Contiguous().Realize())
		s.v = append(s.v, g.Zeros(maxLen, c.KVHeads, c.HeadDim).Cast(kv).Contiguous().Realize())
	}
	s.cos, s.sin = ropeTables(c, maxLen)
	// int32, as the scores' float lanes: the mask's comparison then makes
	// whole-lane masks for the select (int64 lanes are compared one by one).
	s.positions = g.Arange(maxLen).Cast(g.Int32).Realize()
	s.rows = g.Zeros(maxLen, c.Dim).Contiguous().Realize()
	s.posVar = g.NewVar("pos", 0, maxLen-1)
	s.tokVar = g.NewVar("tok", 0, c.Vocab-1)
	s.rowVar = g.NewVar("row", 0, maxLen-1)
	s.steps = map[int]*jit.JIT{}
	s.gather = jit.New(func(in ...*g.Tensor) []*g.Tensor {
		s.rows.ShrinkAt(0, in[1], 1).Assign(m.Embed.Rows(in[0], 1)).Realize()
		return nil
	})
	return s
}

// Len is the number of tokens in the cache; Cap the most it holds.
func (s *Session) Len() int { return s.pos }

// Cap is the longest sequence the session holds.
func (s *Session) Cap() int { return s.cap }

// Reset empties the cache (its contents are overwritten as it refills).
func (s *Session) Reset() { s.pos = 0 }

// Prefill runs tokens through the model in one batched pass after those
// already in the cache, and returns the logits after the last one
// (float32 [Vocab], realized).
func (s *Session) Prefill(tokens []int) (*g.Tensor, error) {
	h, err := s.pass(tokens)
	if err != nil {
		return nil, err
	}
	n := len(tokens)
	last := h.Shrink([][2]int{{n - 1, n}, {0, s.m.Config.Dim}})
	return s.logits(last).Reshape(s.m.Config.Vocab).Contiguous().Realize(), nil
}

// Scores runs tokens through the model like Prefill and returns the logits
// after every one of them: float32 [len(tokens), Vocab], realized.
func (s *Session) Scores(tokens []int) (*g.Tensor, error) {
	h, err := s.pass(tokens)
	if err != nil {
		return nil, err
	}
	return s.logits(h).Contiguous().Realize(), nil
}

// pass runs tokens through the blocks after those in the cache (the cache
// is written at once) and returns the final hidden states, lazily.
func (s *Session) pass(tokens []int) (*g.Tensor, error) {
	n := len(tokens)
	if err := s.checkTokens(tokens); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("models: no tokens to run")
	}
	for i, t := range tokens {
		s.gather.Call(s.tokVar.Bind(t), s.rowVar.Bind(i))
	}
	h := s.forward(s.rows.Shrink([][2]int{{0, n}, {0, s.m.Config.Dim}}), at{p: s.pos, n: n})
	s.pos += n
	return h, nil
}

// Step runs one token after those in the cache and returns the logits
// after it: float32 [Vocab], valid until the next Step.
func (s *Session) Step(token int) (*g.Tensor, error) {
	l, _, err := s.step(token)
	return l, err
}

// step is Step, also reporting whether the step was a warm-up: one that
// ran normally or was captured, not a JIT replay.
func (s *Session) step(token int) (logits *g.Tensor, warmup bool, err error) {
	if err := s.checkTokens([]int{token}); err != nil {
		return nil, false, err
	}
	keys := s.stepKeys(s.pos)
	step := s.steps[keys]
	if step == nil {
		c := s.m.Config
		step = jit.New(func(in ...*g.Tensor) []*g.Tensor {
			tok, pos := in[0], in[1]
			x := s.m.Embed.Rows(tok, 1).Contiguous() // dequantised once, not per row of the first products
			h := s.forward(x, at{v: pos, keys: keys})
			return []*g.Tensor{s.logits(h).Reshape(c.Vocab).Realize()}
		})
		s.steps[keys] = step
	}
	warmup = step.Captured() == nil
	out := step.Call(s.tokVar.Bind(token), s.posVar.Bind(s.pos))
	s.pos++
	return out[0], warmup, nil
}

// minStepKeys is the fewest keys a decoding step attends to.
const minStepKeys = 64

// stepKeys is how many of the cache's first keys the step at pos attends
// to, the later ones masked: the least power of two (at least
// minStepKeys) past pos, or the whole cache. Each such length is a JIT of
// its own, captured when the position first reaches it, so a step reads
// at most twice the keys it needs instead of the whole cache, for a
// handful of compiled variants of the attention kernels.
func (s *Session) stepKeys(pos int) int {
	k := minStepKeys
	for k <= pos {
		k *= 2
	}
	return min(k, s.cap)
}

func (s *Session) checkTokens(tokens []int) error {
	if s.pos+len(tokens) > s.cap {
		return fmt.Errorf("models: %d tokens after %d do not fit a session of %d", len(tokens), s.pos, s.cap)
	}
	for _, t := range tokens {
		if t < 0 || t >= s.m.Config.Vocab {
			return fmt.Errorf("models: token %d outside the vocabulary of %d", t, s.m.Config.Vocab)
		}
	}
	return nil
}

// at says where a pass's tokens go: n tokens from position p, or one token
// at the position variable v (a decoding step) that attends to the
// cache's first keys keys (v's and those before it, the rest masked).
type at struct {
	p, n int
	v    *g.Tensor
	keys int
}

func (a at) len() int {
	if a.v != nil {
		return 1
	}
	return a.n
}

// window is rows [a.p, a.p+a.n) of t, or the row at a.v.
func (a at) window(t *g.Tensor) *g.Tensor {
	if a.v != nil {
		return t.ShrinkAt(0, a.v, 1)
	}
	b := make([][2]int, t.Ndim())
	for i := range b {
		b[i] = [2]int{0, t.Dim(i)}
	}
	b[0] = [2]int{a.p, a.p + a.n}
	return t.Shrink(b)
}

// forward runs x [T, Dim] through the blocks and returns the final hidden
// states [T, Dim], writing the keys and values into the cache.
func (s *Session) forward(x *g.Tensor, a at) *g.Tensor {
	c := s.m.Config
	T := a.len()
	cos := a.window(s.cos).Reshape(T, 1, c.HeadDim/2, 1)
	sin := a.window(s.sin).Reshape(T, 1, c.HeadDim/2, 1)
	// The keys a query may see: all of the cache up to its own position.
	var keys int
	var mask *g.Tensor // bool [T, keys]
	if a.v != nil {
		keys = a.keys
		mask = s.positions.Shrink([][2]int{{0, keys}}).Le(a.v.Cast(g.Int32)).Reshape(1, keys)
	} else {
		keys = a.p + a.n
		mask = s.positions.Shrink([][2]int{{0, keys}}).Reshape(1, keys).Le(
			s.positions.Shrink([][2]int{{a.p, a.p + a.n}}).Reshape(T, 1))
	}
	group := c.Heads / c.KVHeads
	scale := 1 / math.Sqrt(float64(c.HeadDim))
	for i, l := range s.m.Layers {
		h := rmsNorm(x, l.AttnNorm, c.NormEps)
		qkv := ApplyAll(h, l.Q, l.K, l.V)
		q := rope(qkv[0].Reshape(T, c.Heads, c.HeadDim), cos, sin)
		k := rope(qkv[1].Reshape(T, c.KVHeads, c.HeadDim), cos, sin)
		v := qkv[2].Reshape(T, c.KVHeads, c.HeadDim)
		// One schedule for the three projections, which share the norm,
		// and the residual stream they read: realized here, it is computed
		// once, not again by every later block's schedule.
		kv := s.k[i].DType()
		g.Realize(x, q, a.window(s.k[i]).Assign(k.Cast(kv)), a.window(s.v[i]).Assign(v.Cast(kv)))

		ks := s.k[i].Shrink([][2]int{{0, keys}, {0, c.KVHeads}, {0, c.HeadDim}}).Cast(g.Float32)
		vs := s.v[i].Shrink([][2]int{{0, keys}, {0, c.KVHeads}, {0, c.HeadDim}}).Cast(g.Float32)
		qh := q.Reshape(T, c.KVHeads, group, c.HeadDim).Permute(1, 2, 0, 3)       // [KV, group, T, hd]
		scores := qh.Matmul(ks.Permute(1, 2, 0).Unsqueeze(1)).Mul(float32(scale)) // [KV, group, T, keys]
		probs := mask.Where(scores, float32(math.Inf(-1))).Softmax(-1)
		o := probs.Matmul(vs.Permute(1, 0, 2).Unsqueeze(1)) // [KV, group, T, hd]
		x = x.Add(l.O.Apply(o.Permute(2, 0, 1, 3).Reshape(T, c.Heads*c.HeadDim)))

		h = rmsNorm(x, l.FFNNorm, c.NormEps)
		// The residual stream is a buffer of its own (as in tinygrad's
		// LLaMA): every matrix-vector product of the next block reads it
		// once per output row.
		// The gated hidden layer is a buffer of its own: a quantized
		// weight's activation quantizer reads it twice (the groups'
		// maxima, then the rounding), a float one once per output row.
		// Quantized gate and up projections are kernels of their own too:
		// one quantized weight streamed at a time runs faster than both
		// interleaved (on the 1.1B shape, 2 x 405 µs against 960 µs),
		// while float ones gain from sharing their launch. Stacked ones
		// (StackRows) are one weight, whose output ApplyAll realizes.
		gu := ApplyAll(h, l.Gate, l.Up)
		gate, up := gu[0], gu[1]
		if l.Gate.Quantized() > 0 && stacked([]*Weight{l.Gate, l.Up}) == nil {
			gate, up = gate.Contiguous(), up.Contiguous()
		}
		x = x.Add(l.Down.Apply(gate.Silu().Mul(up).Contiguous())).Contiguous()
	}
	return x
}

// logits are the output layer's scores for hidden states h [T, Dim].
func (s *Session) logits(h *g.Tensor) *g.Tensor {
	return s.m.Output.Apply(rmsNorm(h, s.m.Norm, s.m.Config.NormEps))
}

// rmsNorm is x / sqrt(mean(x²) + eps) * w along the last axis.
func rmsNorm(x, w *g.Tensor, eps float64) *g.Tensor {
	return x.Mul(x.Mul(x).Mean(-1, g.KeepDim).Add(float32(eps)).Rsqrt()).Mul(w.Cast(g.Float32))
}

// rope rotates each adjacent pair (x[2i], x[2i+1]) of every head of x
// [T, H, hd] by its angle (cos and sin [T, 1, hd/2, 1]): GGUF's convention
// for LLaMA.
func rope(x, cos, sin *g.Tensor) *g.Tensor {
	T, H, hd := x.Dim(0), x.Dim(1), x.Dim(2)
	p := x.Reshape(T, H, hd/2, 2)
	x0 := p.Shrink([][2]int{{0, T}, {0, H}, {0, hd / 2}, {0, 1}})
	x1 := p.Shrink([][2]int{{0, T}, {0, H}, {0, hd / 2}, {1, 2}})
	return g.Cat(-1, x0.Mul(cos).Sub(x1.Mul(sin)), x0.Mul(sin).Add(x1.Mul(cos))).Reshape(T, H, hd)
}

// ropeTables are cos and sin of every position's angles, [n, HeadDim/2],
// computed in float64.
func ropeTables(c LlamaConfig, n int) (cos, sin *g.Tensor) {
	half := c.HeadDim / 2
	cv, sv := make([]float32, n*half), make([]float32, n*half)
	for i := range half {
		f := math.Pow(c.RopeTheta, -float64(2*i)/float64(c.HeadDim))
		if c.RopeFreqFactors != nil {
			f /= float64(c.RopeFreqFactors[i])
		}
		for p := range n {
			a := float64(p) * f
			cv[p*half+i], sv[p*half+i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
	return g.FromSlice(cv, n, half).Realize(), g.FromSlice(sv, n, half).Realize()
}

// Quantize converts every float weight matrix of the model (the
// embedding and output included; the norms stay float) to 8 or 4 bits, in
// place; see Weight.Quantize. progress, when not nil, is called with the
// matrices done and their number.
func (m *Llama) Quantize(bits int, progress func(done, total int64)) error {
	done := map[*Weight]*Weight{}
	q := func(w **Weight) error {
		if nw, ok := done[*w]; ok {
			*w = nw
			return nil
		}
		nw, err := (*w).Quantize(bits)
		if err != nil {
			return err
		}
		done[*w], *w = nw, nw
		return nil
	}
	ws := []**Weight{&m.Embed, &m.Output}
	for i := range m.Layers {
		l := &m.Layers[i]
		ws = append(ws, &l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down)
	}
	for i, w := range ws {
		if err := q(w); err != nil {
			return err
		}
		if progress != nil {
			progress(int64(i+1), int64(len(ws)))
		}
	}
	m.stackRows()
	return nil
}

// stackRows stacks each layer's query, key and value projections, and its
// gate and up projections, where StackRows finds it worth it.
func (m *Llama) stackRows() {
	for i := range m.Layers {
		l := &m.Layers[i]
		if ws, ok := StackRows(l.Q, l.K, l.V); ok {
			l.Q, l.K, l.V = ws[0], ws[1], ws[2]
		}
		if ws, ok := StackRows(l.Gate, l.Up); ok {
			l.Gate, l.Up = ws[0], ws[1]
		}
	}
}

// Describe summarises the model: parameters and how its weights are stored.
func (m *Llama) Describe() string {
	c := m.Config
	params := c.Vocab*c.Dim + c.Dim
	if m.Output != m.Embed {
		params += c.Vocab * c.Dim
	}
	params += c.Layers * (2*c.Dim + c.Dim*c.Heads*c.HeadDim*2 + 2*c.Dim*c.KVHeads*c.HeadDim + 3*c.Dim*c.HiddenDim)
	kind := "float32"
	if m.Layers[0].Q.f != nil {
		kind = m.Layers[0].Q.f.DType().String()
	}
	if b := m.Layers[0].Q.Quantized(); b > 0 {
		kind = fmt.Sprintf("%d-bit weights", b)
	}
	return fmt.Sprintf("%s parameters, %s, %d layers, dim %d, context %d", humanCount(params), kind, c.Layers, c.Dim, c.Context)
}

func humanCount(n int) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
