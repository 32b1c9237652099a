package nn

import (
	"math"

	"github.com/gograd/gograd"
)

// MultiHeadAttention is PyTorch's nn.MultiheadAttention with equal query,
// key and value sizes: the inputs are projected by the rows of InProjWeight
// (query, key, value, E each), split into Heads heads of E/Heads values,
// attended by scaled dot products, merged and projected by OutProj. Its
// state-dict names are PyTorch's (in_proj_weight, out_proj.weight, ...).
//
// Inputs are (L, N, E) as in PyTorch, or (N, L, E) when BatchFirst, or
// (L, E) unbatched. Causal lets position i attend to keys j <= i only.
// Dropout applies to the attention weights in training.
type MultiHeadAttention struct {
	InProjWeight *gograd.Tensor `gograd:"in_proj_weight"` // (3E, E)
	InProjBias   *gograd.Tensor `gograd:"in_proj_bias"`   // (3E), or nil
	OutProj      *Linear        `gograd:"out_proj"`       // E to E

	Heads      int
	BatchFirst bool
	Causal     bool
	Dropout    float64
	Training   bool
}

// NewMultiHeadAttention makes a MultiHeadAttention of embedding size embed
// split into heads, with biases if bias, initialised as PyTorch does:
// in_proj_weight Xavier-uniform (±sqrt(6/(4E))), out_proj.weight as a
// Linear's, biases zero; BatchFirst false, in training mode.
func NewMultiHeadAttention(embed, heads int, bias bool) *MultiHeadAttention {
	const op = "NewMultiHeadAttention"
	if heads <= 0 || embed <= 0 || embed%heads != 0 {
		panicf(op, "embedding size %d does not split into %d heads", embed, heads)
	}
	m := &MultiHeadAttention{
		InProjWeight: uniformParam(op, math.Sqrt(6/float64(4*embed)), 3*embed, embed),
		OutProj:      &Linear{Weight: uniformParam(op, fanInBound(embed), embed, embed)},
		Heads:        heads,
		Training:     true,
	}
	if bias {
		m.InProjBias = zerosParam(3 * embed)
		m.OutProj.Bias = zerosParam(embed)
	}
	return m
}

// SetTraining switches between training (on) and evaluation.
func (m *MultiHeadAttention) SetTraining(on bool) { m.Training = on }

// Forward is self-attention: Attend(x, x, x, nil, nil).
func (m *MultiHeadAttention) Forward(x *gograd.Tensor) *gograd.Tensor {
	return m.Attend(x, x, x, nil, nil)
}

// Attend attends query (L, N, E) to key and value (S, N, E), both (N, ...)
// when BatchFirst, giving (L, N, E) (or (N, L, E)). As in PyTorch, attnMask
// is (L, S) or (N*Heads, L, S) and keyPaddingMask (N, S); a bool mask is
// true where attention is NOT allowed (the opposite of gograd's
// ScaledDotProductAttention), a float mask is added to the scores. Either
// may be nil. A query with nothing to attend gives NaN, as in PyTorch.
func (m *MultiHeadAttention) Attend(query, key, value, attnMask, keyPaddingMask *gograd.Tensor) *gograd.Tensor {
	const op = "MultiHeadAttention"
	w := m.InProjWeight
	if w == nil || w.Ndim() != 2 || w.Dim(0) != 3*w.Dim(1) {
		panicf(op, "in_proj_weight %s is not (3E, E)", shapeStr(w.Shape()))
	}
	e := w.Dim(1)
	if m.Heads <= 0 || e%m.Heads != 0 {
		panicf(op, "embedding size %d does not split into %d heads", e, m.Heads)
	}
	if m.InProjBias != nil && (m.InProjBias.Ndim() != 1 || m.InProjBias.Dim(0) != 3*e) {
		panicf(op, "in_proj_bias %s is not (%d,)", shapeStr(m.InProjBias.Shape()), 3*e)
	}
	unbatched := query.Ndim() == 2
	for _, t := range []*gograd.Tensor{query, key, value} {
		if t.Ndim() != query.Ndim() || (t.Ndim() != 3 && t.Ndim() != 2) || t.Dim(-1) != e {
			panicf(op, "query %s, key %s and value %s must be (L, N, %d), (N, L, %d) batch first, or (L, %d) unbatched, all alike",
				shapeStr(query.Shape()), shapeStr(key.Shape()), shapeStr(value.Shape()), e, e, e)
		}
	}
	self := query == key && key == value
	toBatchFirst := func(t *gograd.Tensor) *gograd.Tensor {
		switch {
		case unbatched:
			return t.Unsqueeze(0)
		case !m.BatchFirst:
			return t.Transpose(0, 1)
		}
		return t
	}
	q, k, v := toBatchFirst(query), toBatchFirst(key), toBatchFirst(value)
	n, l, s := q.Dim(0), q.Dim(1), k.Dim(1)
	if k.Dim(0) != n || v.Dim(0) != n || v.Dim(1) != s {
		panicf(op, "query %s, key %s and value %s differ in batch or key length", shapeStr(query.Shape()), shapeStr(key.Shape()), shapeStr(value.Shape()))
	}
	rows := func(t *gograd.Tensor, i int) *gograd.Tensor {
		if t == nil {
			return nil
		}
		b := make([][2]int, t.Ndim())
		for j := range b {
			b[j] = [2]int{0, t.Dim(j)}
		}
		b[0] = [2]int{i * e, (i + 1) * e}
		return t.Shrink(b)
	}
	if self {
		// One projection of x to (N, L, 3E), then three views of it.
		qkv := q.Linear(w, m.InProjBias)
		q = qkv.Shrink([][2]int{{0, n}, {0, l}, {0, e}})
		k = qkv.Shrink([][2]int{{0, n}, {0, l}, {e, 2 * e}})
		v = qkv.Shrink([][2]int{{0, n}, {0, l}, {2 * e, 3 * e}})
	} else {
		q = q.Linear(rows(w, 0), rows(m.InProjBias, 0))
		k = k.Linear(rows(w, 1), rows(m.InProjBias, 1))
		v = v.Linear(rows(w, 2), rows(m.InProjBias, 2))
	}
	h, d := m.Heads, e/m.Heads
	heads := func(t *gograd.Tensor, length int) *gograd.Tensor {
		return t.Reshape(n, length, h, d).Permute(0, 2, 1, 3) // (N, H, len, d)
	}
	q, k, v = heads(q, l), heads(k, s), heads(v, s)
	mask := m.masks(op, attnMask, keyPaddingMask, n, l, s)
	var out *gograd.Tensor
	if m.Training && m.Dropout > 0 {
		scores := q.Matmul(k.T()).Mul(1 / math.Sqrt(float64(d)))
		if mask != nil {
			scores = scores.Add(mask)
		}
		if m.Causal {
			scores = scores.Add(causalMask(l, s).To(scores.Device()))
		}
		out = scores.Softmax(-1).Dropout(m.Dropout).Matmul(v)
	} else {
		out = q.ScaledDotProductAttention(k, v, mask, m.Causal)
	}
	out = m.OutProj.Forward(out.Permute(0, 2, 1, 3).Reshape(n, l, e))
	switch {
	case unbatched:
		return out.Squeeze(0)
	case !m.BatchFirst:
		return out.Transpose(0, 1)
	}
	return out
}

// masks merges PyTorch's attention and key padding masks into one float
// mask added to the scores (N or 1, H or 1, L, S): -inf where a bool mask
// is true.
func (m *MultiHeadAttention) masks(op string, attnMask, keyPadding *gograd.Tensor, n, l, s int) *gograd.Tensor {
	additive := func(t *gograd.Tensor) *gograd.Tensor {
		if t.DType() == gograd.Bool {
			return t.Where(math.Inf(-1), float32(0))
		}
		if !t.DType().IsFloat() {
			panicf(op, "mask %s of %s must be bool or float", shapeStr(t.Shape()), t.DType())
		}
		return t
	}
	var mask *gograd.Tensor
	if attnMask != nil {
		switch {
		case attnMask.Ndim() == 2 && attnMask.Dim(0) == l && attnMask.Dim(1) == s:
			mask = additive(attnMask).Reshape(1, 1, l, s)
		case attnMask.Ndim() == 3 && attnMask.Dim(0) == n*m.Heads && attnMask.Dim(1) == l && attnMask.Dim(2) == s:
			mask = additive(attnMask).Reshape(n, m.Heads, l, s)
		default:
			panicf(op, "attention mask %s is not (%d, %d) or (%d, %d, %d)", shapeStr(attnMask.Shape()), l, s, n*m.Heads, l, s)
		}
	}
	if keyPadding != nil {
		if keyPadding.Ndim() != 2 || keyPadding.Dim(0) != n || keyPadding.Dim(1) != s {
			panicf(op, "key padding mask %s is not (%d, %d)", shapeStr(keyPadding.Shape()), n, s)
		}
		kp := additive(keyPadding).Reshape(n, 1, 1, s)
		if mask == nil {
			mask = kp
		} else {
			mask = mask.Add(kp)
		}
	}
	return mask
}

// causalMask is 0 where key j <= query i and -inf elsewhere: (L, S).
func causalMask(l, s int) *gograd.Tensor {
	i := gograd.Arange(l).Reshape(l, 1)
	j := gograd.Arange(s).Reshape(1, s)
	return j.Le(i).Where(float32(0), math.Inf(-1))
}
