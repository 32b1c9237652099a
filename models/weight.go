package models

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/nn/quant"
	"github.com/gograd/gograd/uop"
)

// Weight is a matrix of Out rows and In columns (PyTorch's [out, in]):
// float values, or quantized planes dequantised inside the kernels that
// read them.
type Weight struct {
	Out, In int
	f       *g.Tensor // [Out, In] float, or nil
	q       *planes   // or the quantized planes
	// A weight made by StackRows is rows [row0, row0+Out) of stack, its
	// planes views of stack's.
	stack *Weight
	row0  int
}

// planes are a quant.Planes on a device. 8-bit values are q's int8
// [rows, cols]. 4- and 5-bit values are stored with their groups in pairs
// (see pairGroups): q is uint8 [rows, pairs*32], pair k's byte l holding
// element l of group 2k in its low nibble and element l of group 2k+1 in
// its high nibble, so that one 32-byte load gives two whole groups in
// order; high (5 bits) is each group's little-endian uint32 of fifth bits,
// [rows, 2*pairs*4]. scale and min are [rows, groups], with 2*pairs groups
// for 4 and 5 bits: a row with an odd number of groups ends with a group
// of zeros (scale and min 0) that pad columns of zeros in x meet. sub
// (Q6_K) is the int8 sub-scales, [rows, cols/subGroup], or nil.
type planes struct {
	bits, group, offset int
	subGroup            int
	pad                 int // columns of padding after each row (4 and 5 bits)
	q, high, scale, min *g.Tensor
	sub                 *g.Tensor
	// Blocked planes (4, 5 and 8 bits, see blockRows and setViews) keep
	// q, high, scale and min in blocks of rowBlock rows, qb [rows/rowBlock,
	// units, fours, rowBlock, 4], hb [rows/rowBlock, pairs, 2, rowBlock,
	// 4], sb and mb [rows/rowBlock, groups, rowBlock] (K formats: with sd
	// and md [rows/rowBlock, groups/8, rowBlock]); q, high, scale and min
	// are then views of them.
	qb, hb, sb, mb, sd, md *g.Tensor
	// Blocked 6-bit planes (Q6_K, see sixBitBlocks) keep their values in
	// six bits, six [rows/rowBlock, groups, 48, rowBlock, 4], with sb and
	// subBlocks [rows/rowBlock, groups, 16, rowBlock] in blocks too; q,
	// scale and sub are then views of them.
	six, subBlocks *g.Tensor
	// lanes are blocked planes' fours split by lanes (see fourLanes and
	// sixBitLanes), subs 6-bit planes' sub-scales by sub-block.
	lanes [][][4]*g.Tensor
	subs  []*g.Tensor
}

// rowBlock is the rows of a blocked 4-bit plane: the lanes of one AVX-512
// vector of int32 sums.
const rowBlock = 16

// FloatWeight wraps a float matrix of shape [out, in].
func FloatWeight(t *g.Tensor) *Weight {
	if t.Ndim() != 2 || !t.DType().IsFloat() {
		panic(fmt.Sprintf("models: FloatWeight: want a float matrix, got %v %v", t.DType(), t.Shape()))
	}
	return &Weight{Out: t.Dim(0), In: t.Dim(1), f: t}
}

// QuantWeight puts quantized planes on the default device: 8-bit planes
// that are not blocked share their memory where the device keeps buffers
// in host memory, and 4- and 5-bit planes are first rearranged with their
// groups in pairs.
func QuantWeight(p *quant.Planes) (*Weight, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	w := &Weight{Out: p.Rows, In: p.Cols, q: &planes{bits: p.Bits, group: p.Group, offset: p.Offset, subGroup: p.SubGroup}}
	sdt := g.Float32
	if p.ScaleF16 {
		sdt = g.Float16
	}
	qb, high, scale, min := p.Q, p.High, p.Scale, p.Min
	groups := p.Cols / p.Group
	// Q4_0, Q4_1, Q4_K, Q5_0, Q5_1, Q5_K, Q8_0 and the int4 and int8 of
	// --quantize are kept in blocks of rowBlock rows (see blockRows) where
	// their rows allow.
	blocked := (p.Bits == 4 || p.Bits == 5 || p.Bits == 8 && p.Group%4 == 0 && min == nil) && p.Sub == nil &&
		p.Rows%rowBlock == 0
	units, fours := groups, p.Group/4 // of a blocked plane's four bytes (8 bits: a group's)
	switch {
	case p.Bits == 8 && blocked:
	case p.Bits == 8:
		w.q.q = g.FromBytesShared(qb, nil, g.Int8, p.Rows, p.Cols)
	default:
		qb, high, scale, min = pairGroups(p)
		groups = (groups + 1) / 2 * 2
		units, fours = groups/2, 8 // pairs of groups
		w.q.pad = groups*p.Group - p.Cols
	}
	if !blocked {
		if p.Bits != 8 {
			w.q.q = g.FromBytesShared(qb, nil, g.Uint8, p.Rows, groups*16)
		}
		if high != nil {
			w.q.high = g.FromBytesShared(high, nil, g.Uint8, p.Rows, groups*4)
		}
		w.q.scale = g.FromBytesShared(scale, nil, sdt, p.Rows, groups)
		if min != nil {
			w.q.min = g.FromBytesShared(min, nil, sdt, p.Rows, groups)
		}
	} else {
		nb := p.Rows / rowBlock
		perRow := func(b []byte) *g.Tensor { // a scale or minimum per group
			if b == nil {
				return nil
			}
			return g.FromBytesShared(blockRows(b, p.Rows, groups, len(b)/(p.Rows*groups)), nil, sdt, nb, groups, rowBlock)
		}
		q := w.q
		b := blockRows(qb, p.Rows, units*fours, 4)
		if p.Bits == 8 {
			// As unsigned bytes q+blockBias: a DOT4 multiplies unsigned
			// bytes by signed ones.
			for i := range b {
				b[i] ^= blockBias
			}
		}
		q.qb = g.FromBytesShared(b, nil, g.Uint8, nb, units, fours, rowBlock, 4)
		if high != nil {
			q.hb = g.FromBytesShared(blockRows(fifthBits(high), p.Rows, groups, 4), nil, g.Uint8, nb, units, 2, rowBlock, 4)
		}
		if p.KScale != nil && p.Cols == groups*p.Group { // K formats (no padding): their integer sub-scales
			supers := groups / 8
			d, negMin := kSupers(p.KSuper)
			q.sb = g.FromBytesShared(blockRows(p.KScale, p.Rows, groups, 1), nil, g.Uint8, nb, groups, rowBlock)
			q.mb = g.FromBytesShared(blockRows(p.KMin, p.Rows, groups, 1), nil, g.Uint8, nb, groups, rowBlock)
			q.sd = g.FromBytesShared(blockRows(d, p.Rows, supers, 4), nil, g.Float32, nb, supers, rowBlock)
			q.md = g.FromBytesShared(blockRows(negMin, p.Rows, supers, 4), nil, g.Float32, nb, supers, rowBlock)
		} else {
			q.sb, q.mb = perRow(scale), perRow(min)
		}
		q.setViews()
	}
	if p.Sub != nil {
		w.q.sub = g.FromBytesShared(p.Sub, nil, g.Int8, p.Rows, p.Cols/p.SubGroup)
		if six := sixBitBlocks(p); six != nil {
			nb := p.Rows / rowBlock
			w.q.six = g.FromBytesShared(six, nil, g.Uint8, nb, groups, 48, rowBlock, 4)
			w.q.q = sixBitValues(w.q.six).Permute(0, 3, 1, 2, 4).Reshape(p.Rows, p.Cols).Cast(g.Int8).Sub(int8(32))
			w.q.sb = g.FromBytesShared(blockRows(scale, p.Rows, groups, 4), nil, sdt, nb, groups, rowBlock)
			w.q.scale = w.q.sb.Permute(0, 2, 1).Reshape(p.Rows, groups)
			n := p.Cols / p.SubGroup
			w.q.subBlocks = g.FromBytesShared(blockRows(p.Sub, p.Rows, n, 1), nil, g.Int8, nb, groups, 16, rowBlock)
			w.q.sub = w.q.subBlocks.Permute(0, 3, 1, 2).Reshape(p.Rows, n)
			w.q.lanes, w.q.subs = w.q.sixBitLanes()
		}
	}
	return w, nil
}

// sixBitBlocks stores Q6_K planes (int8 values q-32 in [-32, 32), a
// float32 scale per group of 256 and an int8 sub-scale per 16) in six
// bits a value, in blocks of rowBlock rows: [rows/rowBlock, groups, 48,
// rowBlock, 4] bytes, or nil where the planes are not of that form. A
// group's 256 values of a row are 64 fours (f); of the group's 48 units of
// rowBlock rows' four bytes, unit j < 32 holds the low four bits of the
// unsigned values u = q+32 of four f = j in its low nibbles and of four
// f = j+32 in its high ones, and unit 32+j (j < 16) the top two bits of
// fours j, j+16, j+32 and j+48 in its bits 0-1, 2-3, 4-5 and 6-7. A
// kernel turn then loads whole 64-byte units and takes a four's values
// with shifts and masks (sixBitFour), and the planes take 6.56 bits a
// value with their scales, as in the file, instead of 8.56.
func sixBitBlocks(p *quant.Planes) []byte {
	if p.Bits != 8 || p.Group != 256 || p.SubGroup != 16 || p.Offset != 0 || p.Min != nil || p.ScaleF16 || p.Rows%rowBlock != 0 {
		return nil
	}
	groups := p.Cols / 256
	dst := make([]byte, p.Rows*p.Cols/4*3)
	for r := range p.Rows {
		blk, rr := r/rowBlock, r%rowBlock
		for gi := range groups {
			src := p.Q[r*p.Cols+gi*256:][:256]
			units := dst[(blk*groups+gi)*48*rowBlock*4:] // this group's 48 units of this block
			for f := range 64 {
				lo := units[(f%32*rowBlock+rr)*4:][:4]
				hi := units[((32+f%16)*rowBlock+rr)*4:][:4]
				for b := range 4 {
					u := int(int8(src[4*f+b])) + 32
					if u < 0 || u > 63 {
						return nil
					}
					lo[b] |= byte(u&15) << (f / 32 * 4)
					hi[b] |= byte(u>>4) << (f / 16 * 2)
				}
			}
		}
	}
	return dst
}

// sixBitFour is four f (of 64) of each group of blocked 6-bit planes
// (sixBitBlocks), the unsigned values u = q+32: uint8 [blocks, groups,
// rowBlock, 4]. The top two bits reach bits 4 and 5 by one shift and a
// mask.
func sixBitFour(six *g.Tensor, f int) *g.Tensor {
	lo := index(six, 2, f%32)
	if f < 32 {
		lo = lo.BitAnd(uint8(15))
	} else {
		lo = lo.Shr(uint8(4))
	}
	hi := index(six, 2, 32+f%16)
	switch k := f / 16; k { // bits 2k and 2k+1 of hi
	case 0, 1:
		hi = hi.Shl(uint8(4 - 2*k))
	case 3:
		hi = hi.Shr(uint8(2))
	}
	return lo.BitOr(hi.BitAnd(uint8(0x30)))
}

// sixBitValues is every value u = q+32 of blocked 6-bit planes, uint8
// [blocks, groups, 64, rowBlock, 4], the fours in order, for the readers
// that want the usual layout (Dense, Rows): each unit broadcast along the
// fours it holds and shifted by a table of counts, as unpack takes fifth
// bits.
func sixBitValues(six *g.Tensor) *g.Tensor {
	s := six.Shape()
	nb, groups := s[0], s[1]
	nibbles, twos := sixShifts(six.Device())
	// at is units [lo, hi), each shifted by the n counts of by.
	at := func(lo, hi int, by *g.Tensor) *g.Tensor {
		n := by.Dim(0)
		u := along(six, 2, lo, hi).Reshape(nb, groups, 1, hi-lo, rowBlock, 4)
		return u.Expand(nb, groups, n, hi-lo, rowBlock, 4).Shr(by.Reshape(1, 1, n, 1, 1, 1)).Reshape(nb, groups, 64, rowBlock, 4)
	}
	return at(0, 32, nibbles).BitAnd(uint8(15)).BitOr(at(32, 48, twos).BitAnd(uint8(3)).Shl(uint8(4)))
}

// blocks are the tensors of blocked planes (see planes), in the order
// StackRows stacks them.
func (p *planes) blocks() []**g.Tensor { return []**g.Tensor{&p.qb, &p.hb, &p.sb, &p.mb, &p.sd, &p.md} }

// kSupers splits K planes' KSuper into the superblocks' d and -dmin,
// float32 bytes each.
func kSupers(super []byte) (d, negMin []byte) {
	d, negMin = make([]byte, len(super)/2), make([]byte, len(super)/2)
	for i := 0; i < len(super); i += 8 {
		copy(d[i/2:][:4], super[i:])
		copy(negMin[i/2:][:4], super[i+4:])
	}
	return d, negMin
}

// blockScales are blocked planes' float scales and minimums (nil without),
// [blocks, groups, rowBlock]: sb and mb, or for K formats their integer
// sub-scales times their superblocks' sd and md (float32, bit for bit the
// file's d*sc and -dmin*m).
func (p *planes) blockScales() (scale, min *g.Tensor) {
	if p.sd == nil {
		return p.sb, p.mb
	}
	nb, groups := p.sb.Dim(0), p.sb.Dim(1)
	per := func(sub, super *g.Tensor) *g.Tensor { // super [blocks, groups/8, rows] along each group
		s := super.Reshape(nb, groups/8, 1, rowBlock).Expand(nb, groups/8, 8, rowBlock).Reshape(nb, groups, rowBlock)
		return s.Mul(sub.Cast(g.Float32))
	}
	return per(p.sb, p.sd), per(p.mb, p.md)
}

// setViews sets blocked planes' q, high, scale and min to views of their
// blocks in the usual layout (high with its bits as fifthBits orders
// them). The blocks are qb [blocks, units, fours, rowBlock, 4] (4 and 5
// bits: units are pairs of groups, fours 8; 8 bits: units are groups of
// the unsigned q+blockBias, fours group/4), hb [blocks, pairs, 2,
// rowBlock, 4] (5 bits: the fifth bits, see fifthBits; else nil), sb and
// mb [blocks, groups, rowBlock] (the scales and minimums, or nil; K
// formats: their uint8 sub-scales, with sd and md [blocks, groups/8,
// rowBlock] the superblocks' float32 d and -dmin; see blockScales).
func (p *planes) setViews() {
	rows, groups := p.qb.Dim(0)*rowBlock, p.sb.Dim(1)
	p.q = p.qb.Permute(0, 3, 1, 2, 4).Reshape(rows, p.qb.Dim(1)*p.qb.Dim(2)*4)
	if p.hb != nil {
		p.high = p.hb.Permute(0, 3, 1, 2, 4).Reshape(rows, groups*4)
	}
	sb, mb := p.blockScales()
	if p.bits == 8 {
		p.q = p.q.Cast(g.Int16).Sub(int16(blockBias)).Cast(g.Int8)
	}
	p.scale = sb.Permute(0, 2, 1).Reshape(rows, groups)
	if mb != nil {
		p.min = mb.Permute(0, 2, 1).Reshape(rows, groups)
	}
	p.lanes = p.fourLanes()
}

// fifthBits reorders 5-bit planes' fifth bits (each group's little-endian
// uint32, bit i for element i) so that byte j of a group holds the fifth
// bit of element 4f+j in its bit f: four f's fifth bits, one per byte as
// a DOT4 lane takes them, are then one shift and a mask (fifthFour).
func fifthBits(high []byte) []byte {
	dst := make([]byte, len(high))
	for o := 0; o < len(high); o += 4 {
		h := binary.LittleEndian.Uint32(high[o:])
		for i := range 32 {
			dst[o+i%4] |= byte(h>>i&1) << (i / 4)
		}
	}
	return dst
}

// fifthFour is four f's fifth bits from hb [..., rowBlock, 4] (see
// fifthBits) at bit 4 of each byte, to add to the four's low nibbles.
func fifthFour(hb *g.Tensor, f int) *g.Tensor {
	switch {
	case f < 4:
		hb = hb.Shl(uint8(4 - f))
	case f > 4:
		hb = hb.Shr(uint8(f - 4))
	}
	return hb.BitAnd(uint8(16))
}

// blockBias is what blocked 8-bit planes add to their int8 values to
// store them as unsigned bytes (an exclusive or of the sign bit).
const blockBias = 0x80

// stackMax is the most bytes of values (4- and 5-bit ones counted two a
// byte) StackRows puts in one weight. Stacking the small projections of a
// 110M model (a layer's q, k and v, 768 rows each; its gate and up) made
// its decoding 3-17% faster in four alternating pairs (fewer, longer
// kernels), while a 1.1B model's gate and up (11264 x 2048, 13 MB)
// stacked were no faster per kernel and its tokens a little slower.
const stackMax = 4 << 20

// StackRows stacks weights of the same columns by rows into one weight
// where that helps: blocked planes of one kind (in blocks of 16 rows: 4
// bits, Q4_0, Q4_1, Q4_K and int4; 5 bits, Q5_0, Q5_1 and Q5_K; 8 bits,
// Q8_0 and int8) of stackMax bytes or fewer in all. It returns weights
// that are rows of the stacked one, in order, sharing its memory (the originals'
// planes can then be freed), and true; or ws and false. ApplyAll of the
// returned weights, all of them in order, runs one matrix-vector product.
func StackRows(ws ...*Weight) ([]*Weight, bool) {
	if len(ws) < 2 {
		return ws, false
	}
	var bytes int
	var planes [6][]*g.Tensor // each weight's blocks()
	for _, w := range ws {
		first := ws[0].q
		if w.q == nil || w.q.qb == nil || w.stack != nil || w.In != ws[0].In || w.q.bits != first.bits ||
			w.q.pad != first.pad || w.q.offset != first.offset || w.q.sb.DType() != first.sb.DType() ||
			(w.q.mb == nil) != (first.mb == nil) || (w.q.sd == nil) != (first.sd == nil) {
			return ws, false
		}
		bytes += w.Out * w.q.q.Dim(1)
		for i, t := range w.q.blocks() {
			planes[i] = append(planes[i], *t)
		}
	}
	if bytes > stackMax {
		return ws, false
	}
	all := *ws[0].q
	cat := func(ts []*g.Tensor) *g.Tensor {
		if ts[0] == nil {
			return nil
		}
		return g.Cat(0, ts...).Contiguous().Realize()
	}
	for i, t := range all.blocks() {
		*t = cat(planes[i])
	}
	all.setViews()
	stack := &Weight{In: ws[0].In, q: &all}
	for _, w := range ws {
		stack.Out += w.Out
	}
	out := make([]*Weight, len(ws))
	row := 0
	for i, w := range ws {
		p := all
		b0, b1 := row/rowBlock, (row+w.Out)/rowBlock
		rows := func(t *g.Tensor) *g.Tensor {
			if t == nil {
				return nil
			}
			return along(t, 0, b0, b1)
		}
		for _, t := range p.blocks() {
			*t = rows(*t)
		}
		p.setViews()
		out[i] = &Weight{Out: w.Out, In: w.In, q: &p, stack: stack, row0: row}
		row += w.Out
	}
	return out, true
}

// stacked reports whether ws are all the rows of one stacked weight, in
// order: the weight, or nil.
func stacked(ws []*Weight) *Weight {
	s := ws[0].stack
	row := 0
	for _, w := range ws {
		if s == nil || w.stack != s || w.row0 != row {
			return nil
		}
		row += w.Out
	}
	if row != s.Out {
		return nil
	}
	return s
}

// blockRows rearranges a plane of rows of n units of size bytes into
// blocks of rowBlock rows, [rows/rowBlock, n, rowBlock, size]: a unit of
// rowBlock consecutive rows is contiguous, so a kernel whose vector lanes
// are rows loads it at once (4-bit planes in units of 4 bytes, the bytes
// that one lane of a DOT4 sums; their scales one by one).
func blockRows(src []byte, rows, n, size int) []byte {
	return quant.BlockRows(src, rows, n, size, rowBlock)
}

// pairGroups rearranges the nibbles of 4- or 5-bit planes (quant.Planes
// order: element i < 16 of a group in the low nibble of its byte i,
// element 16+i in the high nibble) into pairs of groups (see planes),
// adding a group of zeros to rows with an odd number of groups, and pads
// the high, scale and min planes to match.
func pairGroups(p *quant.Planes) (q, high, scale, min []byte) {
	groups := p.Cols / 32
	pairs := (groups + 1) / 2
	ss := len(p.Scale) / (p.Rows * groups) // bytes per scale
	q = make([]byte, p.Rows*pairs*32)
	padded := func(src []byte, size int) []byte { // size bytes per group
		if src == nil {
			return nil
		}
		dst := make([]byte, p.Rows*2*pairs*size)
		for r := range p.Rows {
			copy(dst[r*2*pairs*size:], src[r*groups*size:(r+1)*groups*size])
		}
		return dst
	}
	high, scale, min = padded(p.High, 4), padded(p.Scale, ss), padded(p.Min, ss)
	for r := range p.Rows {
		src := p.Q[r*groups*16 : (r+1)*groups*16]
		dst := q[r*pairs*32 : (r+1)*pairs*32]
		for gi := range groups {
			b := src[gi*16 : gi*16+16]
			d := dst[gi/2*32 : gi/2*32+32]
			shift := uint(gi % 2 * 4)
			for i, v := range b {
				d[i] |= v & 15 << shift
				d[16+i] |= v >> 4 << shift
			}
		}
	}
	return q, high, scale, min
}

// Quantized reports the weight's bits per value, 0 for a float weight.
func (w *Weight) Quantized() int {
	if w.q == nil {
		return 0
	}
	return w.q.bits
}

// Dense is the weight as a float32 [Out, In] tensor: lazy, so a quantized
// weight is unpacked and scaled inside the kernel that reads it.
func (w *Weight) Dense() *g.Tensor {
	if w.f != nil {
		return w.f
	}
	return w.q.dequant(w.q.q, w.q.high, w.q.scale, w.q.min, w.q.sub, w.Out, w.In)
}

// Rows is rows [start, start+n) of the weight as float32 [n, In], start a
// variable bound with Var.Bind (the embedding of the current token).
func (w *Weight) Rows(start *g.Tensor, n int) *g.Tensor {
	if w.f != nil {
		return w.f.ShrinkAt(0, start, n).Cast(g.Float32)
	}
	rows := func(t *g.Tensor) *g.Tensor {
		if t == nil {
			return nil
		}
		return t.ShrinkAt(0, start, n)
	}
	return w.q.dequant(rows(w.q.q), rows(w.q.high), rows(w.q.scale), rows(w.q.min), rows(w.q.sub), n, w.In)
}

// Apply is x @ W.T: x of shape [..., In] gives [..., Out], in float32. A
// quantized weight is read in its groups' own shape, so that its scales'
// indices stay affine in the kernel's loops (and its loads vectorize); a
// 4-bit one as the two groups of each pair, so that each byte is loaded
// once and shifted by a constant.
func (w *Weight) Apply(x *g.Tensor) *g.Tensor { return ApplyAll(x, w)[0] }

// ApplyAll is Apply of several weights of In columns to one x (a layer's
// query, key and value projections): quantized weights of one group size
// share x's int8 copy, made by one set of kernels.
//
// Weights made by one StackRows, all of them in order, are one product
// whose output is realized by its kernel, each weight's a view of it.
func ApplyAll(x *g.Tensor, ws ...*Weight) []*g.Tensor {
	acts := map[[2]int]*qActs{}
	out := make([]*g.Tensor, len(ws))
	if s := stacked(ws); s != nil {
		y := s.apply(x, acts).Contiguous()
		for i, w := range ws {
			out[i] = along(y, -1, w.row0, w.row0+w.Out)
		}
		return out
	}
	for i, w := range ws {
		out[i] = w.apply(x, acts)
	}
	return out
}

// qActs is an activation quantized by quantizeActs, with its groups'
// integer sums (made when a weight first asks for them).
type qActs struct {
	xq, xs, sums *g.Tensor
	subs         *g.Tensor // see subSums
}

// groupSums is the int32 sums of xq over each group, [..., groups]: a
// small reduction realized once for every weight that reads it.
func (a *qActs) groupSums() *g.Tensor {
	if a.sums == nil {
		a.sums = a.xq.Sum(-1, g.Int32).Contiguous()
	}
	return a.sums
}

// subSums is the int32 sums of xq over each 16 consecutive values of its
// groups (Q6_K's sub-blocks), [..., groups, group/16], realized once like
// groupSums.
func (a *qActs) subSums() *g.Tensor {
	if a.subs == nil {
		s := a.xq.Shape()
		a.subs = a.xq.Reshape(append(slices.Clone(s[:len(s)-1]), s[len(s)-1]/16, 16)...).Sum(-1, g.Int32).Contiguous()
	}
	return a.subs
}

func (w *Weight) apply(x *g.Tensor, acts map[[2]int]*qActs) *g.Tensor {
	if x.Dim(-1) != w.In {
		panic(fmt.Sprintf("models: Weight.Apply: input %v for a weight of %d x %d", x.Shape(), w.Out, w.In))
	}
	x = x.Cast(g.Float32)
	if w.f != nil {
		return x.Matmul(w.f.T())
	}
	if w.q.pad > 0 {
		pads := make([][2]int, x.Ndim())
		pads[len(pads)-1][1] = w.q.pad
		x = x.Pad(pads)
	}
	if (w.q.min == nil || w.q.qb != nil) && w.q.group%2 == 0 {
		key := [2]int{w.q.group, w.q.pad}
		a := acts[key]
		if a == nil {
			a = &qActs{}
			a.xq, a.xs = quantizeActs(x, w.q.group)
			acts[key] = a
		}
		return w.intApply(x, a)
	}
	lead := x.Shape()[:x.Ndim()-1]
	n := w.q.scale.Dim(1) // groups
	shape := func(inner ...int) []int { return append(append(slices.Clone(lead), 1, n), inner...) }
	last2 := []int{len(lead) + 1, len(lead) + 2}
	if w.q.bits == 8 {
		return x.Reshape(shape(w.q.group)...).Mul(w.q.int8s(w.q.q, w.q.scale, w.q.min, w.q.sub, w.Out, w.In)).Sum(last2)
	}
	n /= 2 // pairs
	lo, hi := w.q.nibbles(w.q.q, w.q.high, w.q.scale, w.q.min, w.Out)
	xs := x.Reshape(shape(2, 32)...)
	return index(xs, -2, 0).Mul(lo).Add(index(xs, -2, 1).Mul(hi)).Sum(last2)
}

// index is t's slice i along axis (negative: from the end), without that
// axis: a view.
func index(t *g.Tensor, axis, i int) *g.Tensor {
	if axis < 0 {
		axis += t.Ndim()
	}
	s := slices.Delete(slices.Clone(t.Shape()), axis, axis+1)
	return along(t, axis, i, i+1).Reshape(s...)
}

// along is t's elements [lo, hi) along axis (negative: from the end), all
// along the others: a view.
func along(t *g.Tensor, axis, lo, hi int) *g.Tensor {
	if axis < 0 {
		axis += t.Ndim()
	}
	b := make([][2]int, t.Ndim())
	for d, n := range t.Shape() {
		b[d] = [2]int{0, n}
	}
	b[axis] = [2]int{lo, hi}
	return t.Shrink(b)
}

// halves splits a per-group plane along its axis 1 of 2*pairs groups,
// [rows, 2*pairs, ...], into the even and odd groups' [rows, pairs, ...]
// (nil for nil).
func halves(t *g.Tensor) (even, odd *g.Tensor) {
	if t == nil {
		return nil, nil
	}
	s := t.Shape()
	v := t.Reshape(append([]int{s[0], s[1] / 2, 2}, s[2:]...)...)
	return index(v, 2, 0), index(v, 2, 1)
}

// intApply is Apply for planes without minimums, or blocked ones (see
// blockedApply), in integers as ggml does it: x (padded to the planes'
// groups) is quantized to int8 in the weight's groups (one float scale
// each, the largest magnitude mapped to 127), each group's integer
// products are summed in int32 two at a time (the pairs become one
// multiply-add instruction, DOT2, on the CPU), and only those sums are
// converted to float and scaled by both groups' scales. The weight is
// read once, as bytes, with no per-element conversion to float.
func (w *Weight) intApply(x *g.Tensor, a *qActs) *g.Tensor {
	lead := slices.Clone(x.Shape()[:x.Ndim()-1])
	group := w.q.group
	groups := x.Dim(-1) / group
	xq, xs := a.xq, a.xs
	// pairs is v [..., n] as its even and odd elements, [..., n/2] each.
	pairs := func(v *g.Tensor) (even, odd *g.Tensor) {
		s := v.Shape()
		v = v.Reshape(append(slices.Clone(s[:len(s)-1]), s[len(s)-1]/2, 2)...)
		return index(v, -1, 0), index(v, -1, 1)
	}
	dot := func(a, b *g.Tensor) *g.Tensor { // sum of products in pairs, int32
		ae, ao := pairs(a)
		be, bo := pairs(b)
		return ae.Cast(g.Int32).Mul(be.Cast(g.Int32)).Add(ao.Cast(g.Int32).Mul(bo.Cast(g.Int32)))
	}
	// scaled is the float sum of products p [..., n, k] times the
	// weight's scales s [Out, n] and x's xs [..., n].
	scaled := func(p, s, xs *g.Tensor) *g.Tensor {
		n := s.Dim(1)
		xs = xs.Reshape(append(slices.Clone(lead), 1, n, 1)...)
		return p.Cast(g.Float32).Mul(s.Cast(g.Float32).Reshape(w.Out, n, 1).Mul(xs))
	}
	var y *g.Tensor
	switch {
	case w.q.six != nil:
		return w.sixBitApply(a, lead)
	case w.q.bits == 8 && w.q.sub != nil:
		// Each value times its sub-scale fits int16 (Q6_K: 32 * 128), so
		// the products with x pair up as DOT2 and a group's sum stays in
		// int32; only that sum is converted and scaled (ggml's Q6_K x
		// Q8_K). The group's sum is a reduction of its own, realized
		// before the groups are added up.
		n, sg := group/w.q.subGroup, w.q.subGroup
		qs := w.q.q.Reshape(w.Out, groups, n, sg).Cast(g.Int16).Mul(w.q.sub.Reshape(w.Out, groups, n, 1).Cast(g.Int16))
		p := dot(qs, xq.Reshape(append(slices.Clone(lead), 1, groups, n, sg)...))
		last := len(lead) + 3
		sums := p.Sum([]int{last - 1, last}, g.Int32).Reshape(append(slices.Clone(lead), w.Out, groups, 1)...)
		y = scaled(sums, w.q.scale, xs)
	case w.q.qb != nil:
		return w.blockedApply(a, lead)
	case w.q.bits == 8:
		p := dot(w.q.q.Reshape(w.Out, groups, group), xq.Reshape(append(slices.Clone(lead), 1, groups, group)...))
		y = scaled(p, w.q.scale, xs)
	default:
		// The unsigned nibbles times x in fours (DOT4 on the CPU), less
		// the offset times x's sums of four: sum (q - offset) x.
		lo, hi := w.q.unpack(w.q.q, w.q.high, w.Out)
		xh := xq.Reshape(append(slices.Clone(lead), 1, groups/2, 2, 32)...)
		xe, xo := index(xh, -2, 0), index(xh, -2, 1)
		off := g.Full(xe.Shape(), uint8(w.q.offset), g.Uint8)
		se, so := halves(w.q.scale)
		xv := xs.Reshape(append(slices.Clone(lead), groups/2, 2)...)
		y = scaled(dot4(lo, xe).Sub(dot4(off, xe)), se, index(xv, -1, 0)).
			Add(scaled(dot4(hi, xo).Sub(dot4(off, xo)), so, index(xv, -1, 1)))
	}
	last := len(lead) + 2
	return y.Sum([]int{last - 1, last})
}

// blockedApply is intApply for blocked planes (4, 5 and 8 bits): each
// group's four bytes at a time for rowBlock rows at once, the rows being
// the vector lanes (so the sums need no adding across lanes, and x's four
// bytes are broadcast to every row), as llama.cpp's repacked Q4_0 kernels
// do. For each row of x a group's sums of four are added in int32, written
// out term by term so that they stay in one loop body, and the offset
// (8-bit planes: blockBias) is taken off once per group, as the offset
// times x's sum over the group (a small reduction of its own, once per
// activation); only then is the sum converted to float and scaled, with
// the minimums times x's group sums added before x's scale.
//
// That form's graph is large (each DOT4 a few nodes of its own), and a
// prompt's graph is built and scheduled anew each time, at a cost that
// does not grow with the prompt while the kernel's does: a product of
// fewer than fourSumsWork multiply-adds for more than one row of x takes
// fourSumsApply's form instead.
func (w *Weight) blockedApply(a *qActs, lead []int) *g.Tensor {
	if n := uop.Prod(lead); n > 1 && n*w.Out*w.In < fourSumsWork {
		return w.fourSumsApply(a, lead)
	}
	xq, xs := a.xq, a.xs // [..., groups, group], [..., groups]
	nb, units, fours := w.q.qb.Dim(0), w.q.qb.Dim(1), w.q.qb.Dim(2)
	lanes := w.q.lanes
	np, nl := len(lanes), len(lead)
	offset := w.q.blockOffset()
	// Every operand below keeps a last axis of 1, as the weight's lanes
	// have it, so that x's lanes are single views: x's bytes as int32
	// [..., 1 (block), units, 1 (row), unit], part k's four c's lane j at
	// (k*fours+c)*4+j of the unit, and x's sums over each group [..., 1,
	// units, 1, parts].
	xr := xq.Cast(g.Int32).Reshape(append(slices.Clone(lead), 1, units, 1, np*fours*4)...)
	var xsum *g.Tensor
	if offset != 0 || w.q.mb != nil {
		xsum = a.groupSums().Reshape(append(slices.Clone(lead), 1, units, 1, np)...)
	}
	// intSum is part k's int32 sums, offset taken off: [..., blocks,
	// units, rows, 1].
	intSum := func(k int) *g.Tensor {
		var s *g.Tensor
		for c := range fours {
			var xl [4]*g.Tensor
			for j := range xl {
				xl[j] = last(xr, (k*fours+c)*4+j)
			}
			if d := dot4Lanes(lanes[k][c], xl); s == nil {
				s = d
			} else {
				s = s.Add(d)
			}
		}
		if offset != 0 {
			s = s.Sub(last(xsum, k).Mul(int32(offset)))
		}
		return s
	}
	// part is plane t [blocks, groups, rows] as part k's, [blocks, units,
	// rows, 1].
	part := func(t *g.Tensor, k int) *g.Tensor {
		return last(t.Reshape(nb, units, np, rowBlock).Permute(0, 1, 3, 2), k).Cast(g.Float32)
	}
	xv := xs.Reshape(append(slices.Clone(lead), 1, units, 1, np)...)
	sb, mb := w.q.blockScales()
	var y *g.Tensor
	for k := range np {
		// The float sums times the rows' scales and x's; with minimums,
		// plus the minimums times x's group sums, before x's scale.
		xsk := last(xv, k)
		var yk *g.Tensor
		if mb != nil {
			yk = intSum(k).Cast(g.Float32).Mul(part(sb, k)).
				Add(part(mb, k).Mul(last(xsum, k).Cast(g.Float32))).Mul(xsk)
		} else {
			yk = intSum(k).Cast(g.Float32).Mul(part(sb, k).Mul(xsk))
		}
		if y == nil {
			y = yk
		} else {
			y = y.Add(yk)
		}
	}
	return y.Sum(nl + 1).Reshape(append(slices.Clone(lead), nb*rowBlock)...)
}

// fourSumsWork is the fewest multiply-adds (rows of x times the weight's
// values) for which a prompt's product adds a group's sums of four in
// int32 (blockedApply): below it, building and scheduling that graph cost
// more than the kernel saves (110M q4_0's products of 64 rows, at most 4096
// x 768, took 47% less kernel time in that form, and the prompt was slower: about a
// millisecond more of host time per product; TinyLlama's, from 2048 x
// 2048, gained: pp64 71 -> 89 tok/s). A variable for the tests.
var fourSumsWork = 1 << 28

// fourSumsApply is blockedApply for a small product of several rows of x
// (see fourSumsWork): a small graph whose kernel converts and scales each
// sum of four (the fours a reduce axis), takes the offset off each four
// (the offset's DOT4 with x), and adds the minimums times x's group sums
// (times x's scales) as a small product of their own, [..., groups] by
// [rows, groups].
func (w *Weight) fourSumsApply(a *qActs, lead []int) *g.Tensor {
	xq, xs := a.xq, a.xs // [..., groups, group], [..., groups]
	nb, units, fours := w.q.qb.Dim(0), w.q.qb.Dim(1), w.q.qb.Dim(2)
	parts, offset := w.q.blockParts(), w.q.blockOffset()
	// whole is part k, fifth bits added: [blocks, units, fours, rows, 4].
	whole := func(k int) *g.Tensor {
		if w.q.hb == nil {
			return parts[k]
		}
		_, bits := shifts(w.q.hb.Device())
		h := index(w.q.hb, 2, k).Reshape(nb, units, 1, rowBlock, 4).Expand(nb, units, fours, rowBlock, 4)
		return parts[k].BitOr(h.Shr(bits.Reshape(1, 1, fours, 1, 1)).BitAnd(uint8(1)).Shl(uint8(4)))
	}
	np, nl := len(parts), len(lead)
	// x's groups as [..., 1 (block), units, parts, fours, 1 (row), 4].
	xh := xq.Reshape(append(slices.Clone(lead), 1, units, np, fours, 1, 4)...)
	// dot is dot4 over the last axis, removed.
	dot := func(a, b *g.Tensor) *g.Tensor {
		d := dot4(a, b)
		return d.Reshape(d.Shape()[:d.Ndim()-1]...)
	}
	off := g.Full(index(xh, nl+2, 0).Shape(), uint8(offset), g.Uint8)
	// intSum is part k's sums of four, offset taken off: [..., blocks,
	// units, fours, rows].
	intSum := func(k int) *g.Tensor {
		x4 := index(xh, nl+2, k)
		if offset == 0 {
			return dot(whole(k), x4)
		}
		return dot(whole(k), x4).Sub(dot(off, x4))
	}
	// part is plane t [blocks, groups, rows] as part k's, shaped against
	// the sums.
	part := func(t *g.Tensor, k int) *g.Tensor {
		return index(t.Reshape(nb, units, np, rowBlock), 2, k).Cast(g.Float32).Reshape(nb, units, 1, rowBlock)
	}
	xv := xs.Reshape(append(slices.Clone(lead), units, np)...)
	sb, _ := w.q.blockScales()
	var y *g.Tensor
	for k := range parts {
		xsk := index(xv, -1, k).Reshape(append(slices.Clone(lead), 1, units, 1, 1)...)
		if yk := intSum(k).Cast(g.Float32).Mul(part(sb, k).Mul(xsk)); y == nil {
			y = yk
		} else {
			y = y.Add(yk)
		}
	}
	y = y.Sum([]int{nl + 1, nl + 2}).Reshape(append(slices.Clone(lead), nb*rowBlock)...)
	if w.q.mb != nil {
		groups := xs.Dim(-1)
		gs := a.groupSums().Cast(g.Float32).Mul(xs).Reshape(append(slices.Clone(lead), 1, groups)...)
		y = y.Add(gs.Mul(w.q.min.Cast(g.Float32)).Sum(-1))
	}
	return y
}

// fourLanes is, for each part k (4 and 5 bits: the even and odd group of
// a pair; 8 bits: the group) and four c of blocked planes, the four's
// lanes as int32 [blocks, units, rows, 1]: the weight's side of every DOT4,
// its fifth bits added, built once per weight instead of once per product
// (a prompt's products are built anew each time); setViews keeps them.
func (p *planes) fourLanes() [][][4]*g.Tensor {
	parts := p.blockParts()
	fours := p.qb.Dim(2)
	lanes := make([][][4]*g.Tensor, len(parts))
	for k := range parts {
		lanes[k] = make([][4]*g.Tensor, fours)
		for c := range fours {
			v := index(parts[k], 2, c)
			if p.hb != nil {
				v = v.BitOr(fifthFour(index(p.hb, 2, k), c))
			}
			lanes[k][c] = lanes4(v) // [blocks, units, rows, 1] each
		}
	}
	return lanes
}

// blockParts are the parts of blocked planes' units, [blocks, units,
// fours, rows, 4] each: a pair of 4- or 5-bit groups is the even group in
// the low nibbles and the odd one in the high nibbles (fifth bits apart);
// an 8-bit unit is one group.
func (p *planes) blockParts() []*g.Tensor {
	if p.bits == 8 {
		return []*g.Tensor{p.qb}
	}
	return []*g.Tensor{p.qb.BitAnd(uint8(15)), p.qb.Shr(uint8(4))}
}

// blockOffset is what blocked planes' stored values exceed their values by.
func (p *planes) blockOffset() int {
	if p.bits == 8 {
		return blockBias
	}
	return p.offset
}

// last is t's element i along its last axis, kept as an axis of 1: a view.
func last(t *g.Tensor, i int) *g.Tensor { return along(t, -1, i, i+1) }

// sixBitApply is intApply for blocked 6-bit planes (Q6_K, see
// sixBitBlocks), as blockedApply does 4 bits: 16 rows are the vector
// lanes, and each of a group's 64 fours is one DOT4 of the unsigned values
// with x's four bytes broadcast. A sub-block's four DOT4s, less 32 times
// x's sum over the sub-block (a small reduction once per activation), are
// multiplied by the 16 rows' sub-scales in int32; a group's 16 such
// products are added in one loop body, and only that sum is converted and
// scaled. The sum fits int32 as ggml's does: 256 products of |q| <= 32,
// |sub| <= 128 and |x| <= 127.
func (w *Weight) sixBitApply(a *qActs, lead []int) *g.Tensor {
	nb, groups := w.q.six.Dim(0), w.q.six.Dim(1)
	nl := len(lead)
	fours := w.q.lanes[0]
	// As in blockedApply, every operand keeps a last axis of 1: x's bytes
	// as int32 [..., 1 (block), groups, 1 (row), 256], and 32 times x's
	// sums over each sub-block of 16, [..., 1, groups, 1, 16].
	xr := a.xq.Cast(g.Int32).Reshape(append(slices.Clone(lead), 1, groups, 1, 256)...)
	xsub := a.subSums().Mul(int32(32)).Reshape(append(slices.Clone(lead), 1, groups, 1, 16)...)
	var sum *g.Tensor // [..., blocks, groups, rows, 1]
	for s := range 16 {
		var d *g.Tensor
		for f := 4 * s; f < 4*s+4; f++ {
			var xl [4]*g.Tensor
			for j := range xl {
				xl[j] = last(xr, 4*f+j)
			}
			if p := dot4Lanes(fours[f], xl); d == nil {
				d = p
			} else {
				d = d.Add(p)
			}
		}
		d = d.Sub(last(xsub, s)).Mul(w.q.subs[s])
		if sum == nil {
			sum = d
		} else {
			sum = sum.Add(d)
		}
	}
	xs := a.xs.Reshape(append(slices.Clone(lead), 1, groups, 1, 1)...)
	y := sum.Cast(g.Float32).Mul(w.q.sb.Cast(g.Float32).Reshape(nb, groups, rowBlock, 1).Mul(xs))
	return y.Sum(nl + 1).Reshape(append(slices.Clone(lead), nb*rowBlock)...)
}

// sixBitLanes is blocked 6-bit planes' weight side, built once per weight
// as fourLanes is: the lanes of each of a group's 64 fours (sixBitFour) as
// int32 [blocks, groups, rows, 1] (one part), and each sub-block's
// sub-scales as int32 [blocks, groups, rows, 1].
func (p *planes) sixBitLanes() (lanes [][][4]*g.Tensor, subs []*g.Tensor) {
	lanes = [][][4]*g.Tensor{make([][4]*g.Tensor, 64)}
	for f := range 64 {
		lanes[0][f] = lanes4(sixBitFour(p.six, f))
	}
	nb, groups := p.six.Dim(0), p.six.Dim(1)
	subs = make([]*g.Tensor, 16)
	for s := range subs {
		subs[s] = index(p.subBlocks, 2, s).Cast(g.Int32).Reshape(nb, groups, rowBlock, 1)
	}
	return lanes, subs
}

// dot4 is the int32 sums of four products of a uint8 and b int8 [..., n]
// (broadcasting), [..., n/4]: (p0 + p1) + (p2 + p3) of consecutive
// elements, the form the vectorizer makes DOT4 of.
func dot4(a, b *g.Tensor) *g.Tensor { return dot4Lanes(lanes4(a), lanes4(b)) }

// lanes4 is v [..., n] as its elements 4i, 4i+1, 4i+2 and 4i+3, int32
// [..., n/4] each.
func lanes4(v *g.Tensor) [4]*g.Tensor {
	s := v.Shape()
	v = v.Reshape(append(slices.Clone(s[:len(s)-1]), s[len(s)-1]/4, 4)...)
	var l [4]*g.Tensor
	for j := range l {
		l[j] = index(v, -1, j).Cast(g.Int32)
	}
	return l
}

// dot4Lanes is dot4 of operands split by lanes4 (broadcasting).
func dot4Lanes(a, b [4]*g.Tensor) *g.Tensor {
	var p [4]*g.Tensor
	for k := range p {
		p[k] = a[k].Mul(b[k])
	}
	return p[0].Add(p[1]).Add(p[2].Add(p[3]))
}

// quantizeActs quantizes x [..., n] to int8 in groups of group along its
// last axis, as ggml's Q8_0 does activations: xq [..., n/group, group]
// and the groups' scales xs [..., n/group], x ≈ xq * xs. Both are realized
// by their own kernels (the maxima's, as a reduce read by two kernels, and
// the rounding's), so a matrix-vector product reads them instead of
// quantizing x again for every row. (Realizing the maxima explicitly
// added a kernel that copied them.)
func quantizeActs(x *g.Tensor, group int) (xq, xs *g.Tensor) {
	lead := slices.Clone(x.Shape()[:x.Ndim()-1])
	groups := x.Dim(-1) / group
	xg := x.Reshape(append(slices.Clone(lead), groups, group)...)
	amax := xg.Abs().Max(-1, g.KeepDim)
	inv := amax.Gt(float32(0)).Where(amax.Reciprocal().Mul(float32(127)), float32(0))
	// Rounded half away from zero, as ggml's roundf: the cast truncates.
	v := xg.Mul(inv)
	xq = v.Add(v.Gt(float32(0)).Where(float32(0.5), float32(-0.5))).Cast(g.Int8).Contiguous()
	xs = amax.Mul(float32(1.0 / 127)).Reshape(append(lead, groups)...)
	return xq, xs
}

// intNibbles are the integer values of 4- and 5-bit planes, offset
// applied, as int8 [rows, pairs, 32] each: the even and odd groups of each
// pair.
func (p *planes) intNibbles(q, high *g.Tensor, rows int) (lo, hi *g.Tensor) {
	lo, hi = p.unpack(q, high, rows)
	off := int8(p.offset)
	return lo.Cast(g.Int8).Sub(off), hi.Cast(g.Int8).Sub(off)
}

// dequant is the lazy float32 [rows, cols] of quantized planes.
func (p *planes) dequant(q, high, scale, min, sub *g.Tensor, rows, cols int) *g.Tensor {
	if p.bits == 8 {
		return p.int8s(q, scale, min, sub, rows, cols).Reshape(rows, cols)
	}
	lo, hi := p.nibbles(q, high, scale, min, rows)
	pairs := lo.Dim(1)
	v := g.Cat(2, lo.Reshape(rows, pairs, 1, 32), hi.Reshape(rows, pairs, 1, 32)).Reshape(rows, pairs*64)
	if p.pad > 0 {
		v = v.Shrink([][2]int{{0, rows}, {0, cols}})
	}
	return v
}

// int8s are the lazy float32 values of 8-bit planes, [rows, groups, group]:
// with sub-scales, (scale * sub) * q, the scales' product rounded first as
// in ggml.
func (p *planes) int8s(q, scale, min, sub *g.Tensor, rows, cols int) *g.Tensor {
	groups := cols / p.group
	if sub == nil {
		return p.scaled(q.Cast(g.Float32).Reshape(rows, groups, p.group), scale, min)
	}
	n := p.group / p.subGroup
	s := scale.Cast(g.Float32).Reshape(rows, groups, 1).Mul(sub.Cast(g.Float32).Reshape(rows, groups, n)).Reshape(rows, groups*n)
	return p.scaled(q.Cast(g.Float32).Reshape(rows, groups*n, p.subGroup), s, nil).Reshape(rows, groups, p.group)
}

// nibbles are the lazy float32 values of 4- and 5-bit planes, each
// [rows, pairs, 32]: the even and odd groups of each pair.
func (p *planes) nibbles(q, high, scale, min *g.Tensor, rows int) (lo, hi *g.Tensor) {
	lo, hi = p.unpack(q, high, rows)
	se, so := halves(scale)
	me, mo := halves(min)
	return p.scaled(lo.Cast(g.Float32), se, me), p.scaled(hi.Cast(g.Float32), so, mo)
}

// unpack returns the stored values (offset not applied) of 4- and 5-bit
// planes as uint8 [rows, pairs, 32] each: the even and odd groups of each
// pair, from the low and high nibbles (and the fifth bits).
func (p *planes) unpack(q, high *g.Tensor, rows int) (lo, hi *g.Tensor) {
	pairs := q.Dim(1) / 32
	b := q.Reshape(rows, pairs, 32)
	lo, hi = b.BitAnd(uint8(15)), b.Shr(uint8(4))
	if p.bits == 5 {
		_, bits := shifts(q.Device())
		var h *g.Tensor
		if p.hb != nil { // byte j, bit f: element 4f+j (fifthBits)
			h = high.Reshape(rows, pairs, 2, 1, 4).Expand(rows, pairs, 2, 8, 4).Shr(bits.Reshape(1, 1, 1, 8, 1))
		} else { // byte j, bit b: element 8j+b
			h = high.Reshape(rows, pairs, 2, 4, 1).Expand(rows, pairs, 2, 4, 8).Shr(bits.Reshape(1, 1, 1, 1, 8))
		}
		h = h.BitAnd(uint8(1)).Shl(uint8(4)).Reshape(rows, pairs, 2, 32)
		lo = lo.BitOr(index(h, 2, 0))
		hi = hi.BitOr(index(h, 2, 1))
	}
	return lo, hi
}

// scaled applies the offset, the groups' scales and minimums to values
// [rows, groups, n].
func (p *planes) scaled(v, scale, min *g.Tensor) *g.Tensor {
	rows, groups, n := v.Dim(0), v.Dim(1), v.Dim(2)
	if p.offset != 0 {
		v = v.Sub(float32(p.offset))
	}
	v = v.Mul(scale.Cast(g.Float32).Reshape(rows, groups, 1).Expand(rows, groups, n))
	if min != nil {
		v = v.Add(min.Cast(g.Float32).Reshape(rows, groups, 1).Expand(rows, groups, n))
	}
	return v
}

var shiftTables sync.Map // device -> [3]*g.Tensor

// shifts returns, on dev, the shifts that pick a byte's two nibbles and its
// eight bits, shaped to broadcast along [rows, groups, 2, 16] and
// [rows, groups, 4, 8].
func shifts(dev string) (nibbles, bits *g.Tensor) {
	t := shiftTable(dev)
	return t[0], t[1]
}

// sixShifts returns, on dev, the shifts that pick a byte's two nibbles
// and its four pairs of bits, [2] and [4].
func sixShifts(dev string) (nibbles, twos *g.Tensor) {
	t := shiftTable(dev)
	return t[0].Reshape(2), t[2]
}

// shiftTable is the tables of shifts and sixShifts on dev, made once.
func shiftTable(dev string) [3]*g.Tensor {
	if t, ok := shiftTables.Load(dev); ok {
		return t.([3]*g.Tensor)
	}
	p := [3]*g.Tensor{
		g.FromSliceOn(dev, []uint8{0, 4}).Reshape(1, 1, 2, 1).Realize(),
		g.FromSliceOn(dev, []uint8{0, 1, 2, 3, 4, 5, 6, 7}).Reshape(1, 1, 1, 8).Realize(),
		g.FromSliceOn(dev, []uint8{0, 2, 4, 6}).Realize(),
	}
	t, _ := shiftTables.LoadOrStore(dev, p)
	return t.([3]*g.Tensor)
}

// Quantize returns the weight as planes of 8 bits (ggml's Q8_0 scheme:
// int8 values with a half scale per 32) or 4 bits (Q4_0: nibbles offset
// by 8, a half scale per 32). A quantized weight, and one whose rows are
// not a whole number of groups of 32 (stories260K's feed-forward output,
// 172 wide), is returned as it is, as llama.cpp keeps such tensors in a
// wider type.
func (w *Weight) Quantize(bits int) (*Weight, error) {
	if w.q != nil || w.In%32 != 0 {
		return w, nil
	}
	v := w.f.Cast(g.Float32).Float32s()
	var p *quant.Planes
	var err error
	switch bits {
	case 8:
		p, err = quant.QuantizeQ8_0(w.Out, w.In, v)
	case 4:
		p, err = quant.QuantizeQ4_0(w.Out, w.In, v)
	default:
		return nil, fmt.Errorf("models: Quantize: %d bits (want 8 or 4)", bits)
	}
	if err != nil {
		return nil, err
	}
	return QuantWeight(p)
}
