package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gograd/gograd/dtype"
)

// Planes is a quantized matrix of Rows × Cols (Cols contiguous) with its
// quantized values, their high bits, scales and minimums in separate flat
// arrays. Every element is
//
//	w = Scale[g] * (q - Offset) + Min[g]    (without Min: just the product)
//
// where g is the element's group of Group consecutive elements along its
// row, and the product is rounded to float32 before Min is added.
//
// Q holds the low bits of q:
//   - Bits 8: one int8 per element, [Rows][Cols].
//   - Bits 4 and 5: two elements per byte, [Rows][Cols/2]; in each group of
//     32 elements (16 bytes), element i < 16 is the low nibble of byte i and
//     element 16+i its high nibble (ggml's Q4_0 order).
//
// High holds the fifth bits when Bits is 5 (nil otherwise): [Rows][Cols/8],
// for each group of 32 elements a little-endian uint32 whose bit i is
// element i's fifth bit (ggml's Q5_0 order). q is then low | high<<4.
//
// Scale and Min hold one value per group, [Rows][Cols/Group]: IEEE half
// bits (little-endian uint16) when ScaleF16, else float32 bits
// (little-endian). Min is nil when the format has no minimum.
//
// Sub, when not nil, holds an int8 sub-scale per SubGroup elements,
// [Rows][Cols/SubGroup] (SubGroup divides Group; 8-bit planes without Min
// only). An element is then
//
//	w = (Scale[g] * Sub[s]) * (q - Offset)
//
// with the product of the two scales rounded to float32 first, as ggml's
// Q6_K does. Kernels keep the sub-scales in integers: the products of a
// group's values, each times its sub-scale, sum in int32, and only the
// group's sum is converted and scaled.
//
// The layout of each format's conversion (FromBlocks):
//
//	format  Bits  Offset  Group  ScaleF16  Min
//	Q8_0    8     0       32     yes       -
//	Q4_0    4     8       32     yes       -
//	Q4_1    4     0       32     yes       f16 m
//	Q5_0    5     16      32     yes       -
//	Q5_1    5     0       32     yes       f16 m
//	Q4_K    4     0       32     no        f32 -dmin*m
//	Q5_K    5     0       32     no        f32 -dmin*m
//	Q6_K    8     0       256    no        -          (q stored signed: q-32;
//	                                                  Sub: int8 sc per 16)
type Planes struct {
	Rows, Cols int
	Bits       int // 8, 5 or 4
	Q          []byte
	High       []byte
	Offset     int
	Group      int
	ScaleF16   bool
	Scale      []byte
	Min        []byte
	Sub        []byte // int8 sub-scales, or nil
	SubGroup   int    // elements per sub-scale, with Sub
	// K formats (Q4_K, Q5_K) also keep the integers their float32 Scale
	// and Min were made of: KScale and KMin, a uint8 per group, and
	// KSuper, two float32s per 8 groups (a 256-element superblock), d and
	// -dmin, such that Scale[g] = d * KScale[g] and Min[g] = -dmin *
	// KMin[g] bit for bit. Or nil: then Scale and Min are all there is.
	KScale, KMin, KSuper []byte
}

// Check reports whether p's fields agree with each other: a known bit
// width, groups that divide the columns (and are 32 long for 4 and 5 bits),
// and planes of exactly the sizes the layout implies.
func (p *Planes) Check() error {
	if p.Rows < 0 || p.Cols < 0 {
		return fmt.Errorf("quant: Planes of %d x %d", p.Rows, p.Cols)
	}
	switch p.Bits {
	case 8:
		if p.Group <= 0 || p.Cols%p.Group != 0 {
			return fmt.Errorf("quant: Planes of %d columns in groups of %d", p.Cols, p.Group)
		}
	case 4, 5:
		if p.Group != 32 || p.Cols%32 != 0 {
			return fmt.Errorf("quant: %d-bit Planes of %d columns in groups of %d, want groups of 32 dividing the columns", p.Bits, p.Cols, p.Group)
		}
	default:
		return fmt.Errorf("quant: Planes of %d bits, want 8, 5 or 4", p.Bits)
	}
	if p.Cols > 0 && p.Rows > math.MaxInt/8/p.Cols {
		return fmt.Errorf("quant: Planes of %d x %d is too large", p.Rows, p.Cols)
	}
	n := p.Rows * p.Cols
	if len(p.Q) != p.qLen() {
		return fmt.Errorf("quant: %d x %d Planes of %d bits: Q has %d bytes, want %d", p.Rows, p.Cols, p.Bits, len(p.Q), p.qLen())
	}
	if want := 0; p.Bits == 5 {
		want = n / 8
		if len(p.High) != want {
			return fmt.Errorf("quant: %d x %d Planes of 5 bits: High has %d bytes, want %d", p.Rows, p.Cols, len(p.High), want)
		}
	} else if p.High != nil {
		return fmt.Errorf("quant: Planes of %d bits has a High plane", p.Bits)
	}
	want := n / p.Group * p.scaleSize()
	if len(p.Scale) != want {
		return fmt.Errorf("quant: %d x %d Planes in groups of %d: Scale has %d bytes, want %d", p.Rows, p.Cols, p.Group, len(p.Scale), want)
	}
	if p.Min != nil && len(p.Min) != want {
		return fmt.Errorf("quant: %d x %d Planes in groups of %d: Min has %d bytes, want %d", p.Rows, p.Cols, p.Group, len(p.Min), want)
	}
	if p.KScale != nil {
		groups := n / p.Group
		switch {
		case p.ScaleF16 || p.Min == nil || groups%8 != 0:
			return fmt.Errorf("quant: K sub-scales need float32 scales, a Min plane and whole superblocks of 8 groups")
		case len(p.KScale) != groups || len(p.KMin) != groups || len(p.KSuper) != groups/8*8:
			return fmt.Errorf("quant: %d groups: KScale, KMin and KSuper have %d, %d and %d bytes, want %d, %d and %d",
				groups, len(p.KScale), len(p.KMin), len(p.KSuper), groups, groups, groups/8*8)
		}
	}
	if p.Sub != nil {
		switch {
		case p.Bits != 8 || p.Min != nil:
			return fmt.Errorf("quant: sub-scales with %d bits (and a Min plane: %v); want 8 bits without Min", p.Bits, p.Min != nil)
		case p.SubGroup <= 0 || p.Group%p.SubGroup != 0:
			return fmt.Errorf("quant: sub-scales per %d elements in groups of %d", p.SubGroup, p.Group)
		case len(p.Sub) != n/p.SubGroup:
			return fmt.Errorf("quant: %d x %d Planes with sub-scales per %d: Sub has %d bytes, want %d", p.Rows, p.Cols, p.SubGroup, len(p.Sub), n/p.SubGroup)
		}
	}
	return nil
}

func (p *Planes) qLen() int {
	if p.Bits == 8 {
		return p.Rows * p.Cols
	}
	return p.Rows * p.Cols / 2
}

func (p *Planes) scaleSize() int {
	if p.ScaleF16 {
		return 2
	}
	return 4
}

// scale returns value g of a Scale or Min plane.
func (p *Planes) scale(plane []byte, g int) float32 {
	if p.ScaleF16 {
		return dtype.Float16Float(binary.LittleEndian.Uint16(plane[2*g:]))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(plane[4*g:]))
}

// Dequantize returns the matrix in float32, [Rows][Cols]: the reference
// the kernels are tested against. It panics if p fails Check.
func (p *Planes) Dequantize() []float32 {
	if err := p.Check(); err != nil {
		panic(err.Error())
	}
	out := make([]float32, p.Rows*p.Cols)
	q := make([]int, p.Group) // one group's q - Offset
	groups := p.Rows * p.Cols / max(p.Group, 1)
	for g := range groups {
		p.groupQ(g, q)
		s := p.scale(p.Scale, g)
		w := out[g*p.Group : (g+1)*p.Group]
		if p.Sub != nil {
			for i, v := range q {
				sub := float32(int8(p.Sub[(g*p.Group+i)/p.SubGroup]))
				w[i] = float32(s*sub) * float32(v) // the conversion forbids a fused multiply-add
			}
			continue
		}
		if p.Min == nil {
			for i, v := range q {
				w[i] = s * float32(v)
			}
			continue
		}
		m := p.scale(p.Min, g)
		for i, v := range q {
			w[i] = float32(s*float32(v)) + m // the conversion forbids a fused multiply-add
		}
	}
	return out
}

// groupQ writes q - Offset of the elements of group g to q.
func (p *Planes) groupQ(g int, q []int) {
	switch p.Bits {
	case 8:
		for i, b := range p.Q[g*p.Group : (g+1)*p.Group] {
			q[i] = int(int8(b)) - p.Offset
		}
	default:
		lo := p.Q[g*16 : g*16+16]
		var hi uint32
		if p.Bits == 5 {
			hi = binary.LittleEndian.Uint32(p.High[g*4:])
		}
		for i, b := range lo {
			q[i] = int(b&0xf|byte(hi>>i&1)<<4) - p.Offset
			q[16+i] = int(b>>4|byte(hi>>(16+i)&1)<<4) - p.Offset
		}
	}
}
