package quant

import "fmt"

// Blocks encodes p as ggml blocks of format f, the inverse of FromBlocks,
// for the 32-element formats whose conversion keeps every bit (Q8_0, Q4_0,
// Q4_1, Q5_0, Q5_1): p must have exactly the layout FromBlocks gives that
// format. The K formats' folded scales cannot be encoded back; they and any
// other mismatch return an error. It panics if p fails Check.
func (p *Planes) Blocks(f Format) ([]byte, error) {
	if err := p.Check(); err != nil {
		panic(err.Error())
	}
	type layout struct {
		bits, offset int
		min          bool
	}
	var want layout
	switch f {
	case Q8_0:
		want = layout{8, 0, false}
	case Q4_0:
		want = layout{4, 8, false}
	case Q4_1:
		want = layout{4, 0, true}
	case Q5_0:
		want = layout{5, 16, false}
	case Q5_1:
		want = layout{5, 0, true}
	default:
		return nil, fmt.Errorf("quant: Planes cannot be encoded as %s blocks", f)
	}
	if got := (layout{p.Bits, p.Offset, p.Min != nil}); got != want || p.Group != 32 || !p.ScaleF16 {
		return nil, fmt.Errorf("quant: Planes of %d bits, offset %d, groups of %d, half scales %v, minimum %v do not have %s's layout",
			p.Bits, p.Offset, p.Group, p.ScaleF16, p.Min != nil, f)
	}
	bb := f.BlockBytes()
	nb := p.Rows * p.Cols / 32
	out := make([]byte, nb*bb)
	for i := range nb {
		b := out[i*bb : (i+1)*bb]
		k := copy(b, p.Scale[2*i:2*i+2])
		if p.Min != nil {
			k += copy(b[k:], p.Min[2*i:2*i+2])
		}
		if p.Bits == 5 {
			k += copy(b[k:], p.High[4*i:4*i+4])
		}
		if p.Bits == 8 {
			copy(b[k:], p.Q[32*i:32*i+32])
		} else {
			copy(b[k:], p.Q[16*i:16*i+16])
		}
	}
	return out, nil
}
