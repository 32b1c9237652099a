package quant

import (
	"encoding/binary"
	"math"
	"runtime"
	"sync"
)

// FromBlocks converts a rows × cols matrix stored in ggml blocks of format f
// (rows after rows, each a whole number of blocks, as in a GGUF tensor's
// data) into Planes (see the table at Planes for each format's layout).
// Q4_K's and Q5_K's 6-bit sub-scales are folded into float32 scales (d*sc)
// and minimums (-dmin*m) exactly as ggml's dequantisation computes them,
// and kept beside them (KScale, KMin, KSuper);
// Q6_K keeps its int8 sub-scales (Sub) beside the float32 d. Dequantize of
// the result equals DequantizeBlocks of data bit for bit. It takes time linear in the data, allocates each plane once, and
// splits large matrices over GOMAXPROCS goroutines; data is not retained.
func FromBlocks(f Format, rows, cols int, data []byte) (*Planes, error) {
	if err := checkBlocks(f, rows, cols, data); err != nil {
		return nil, err
	}
	n := rows * cols
	p := &Planes{Rows: rows, Cols: cols, Group: 32, ScaleF16: true}
	switch f {
	case Q8_0, Q6_K:
		p.Bits = 8
	case Q5_0, Q5_1, Q5_K:
		p.Bits = 5
		p.High = make([]byte, n/8)
	default:
		p.Bits = 4
	}
	switch f {
	case Q4_0:
		p.Offset = 8
	case Q5_0:
		p.Offset = 16
	case Q4_K, Q5_K, Q6_K:
		p.ScaleF16 = false
	}
	if f == Q6_K {
		p.Group, p.SubGroup = 256, 16
		p.Sub = make([]byte, n/16)
	}
	p.Q = make([]byte, p.qLen())
	p.Scale = make([]byte, n/p.Group*p.scaleSize())
	switch f {
	case Q4_1, Q5_1, Q4_K, Q5_K:
		p.Min = make([]byte, len(p.Scale))
	}
	if f == Q4_K || f == Q5_K {
		groups := n / 32
		p.KScale, p.KMin, p.KSuper = make([]byte, groups), make([]byte, groups), make([]byte, groups/8*8)
	}
	bb := f.BlockBytes()
	parallel(len(data)/bb, f.BlockElems(), func(lo, hi int) { repack(f, p, data, lo, hi) })
	return p, nil
}

// repack converts blocks [lo, hi) of data, of format f, into p.
func repack(f Format, p *Planes, data []byte, lo, hi int) {
	bb := f.BlockBytes()
	switch f {
	case Q8_0:
		for i := lo; i < hi; i++ {
			b := data[i*bb:]
			copy(p.Scale[2*i:2*i+2], b[:2])
			copy(p.Q[32*i:32*i+32], b[2:34])
		}
	case Q4_0:
		for i := lo; i < hi; i++ {
			b := data[i*bb:]
			copy(p.Scale[2*i:2*i+2], b[:2])
			copy(p.Q[16*i:16*i+16], b[2:18])
		}
	case Q4_1:
		for i := lo; i < hi; i++ {
			b := data[i*bb:]
			copy(p.Scale[2*i:2*i+2], b[:2])
			copy(p.Min[2*i:2*i+2], b[2:4])
			copy(p.Q[16*i:16*i+16], b[4:20])
		}
	case Q5_0:
		for i := lo; i < hi; i++ {
			b := data[i*bb:]
			copy(p.Scale[2*i:2*i+2], b[:2])
			copy(p.High[4*i:4*i+4], b[2:6])
			copy(p.Q[16*i:16*i+16], b[6:22])
		}
	case Q5_1:
		for i := lo; i < hi; i++ {
			b := data[i*bb:]
			copy(p.Scale[2*i:2*i+2], b[:2])
			copy(p.Min[2*i:2*i+2], b[2:4])
			copy(p.High[4*i:4*i+4], b[4:8])
			copy(p.Q[16*i:16*i+16], b[8:24])
		}
	case Q4_K, Q5_K:
		for i := lo; i < hi; i++ {
			repackK(p, i, data[i*bb:(i+1)*bb], f == Q5_K)
		}
	case Q6_K:
		for i := lo; i < hi; i++ {
			repackQ6K(p, i, data[i*bb:(i+1)*bb])
		}
	}
}

// Masks of the low and high nibbles of eight bytes at once.
const (
	lowNibbles  = 0x0f0f0f0f0f0f0f0f
	highNibbles = 0xf0f0f0f0f0f0f0f0
)

// repackK writes superblock i of a Q4_K or Q5_K matrix (b) into p's groups
// 8i..8i+7. In the superblock, sub-blocks 2j and 2j+1 share 32 bytes of
// nibbles, element l of 2j in the low nibble of byte l and of 2j+1 in its
// high nibble; the canonical order wants elements l and 16+l of a group in
// one byte, so each group's 16 bytes take the matching nibbles of bytes l
// and 16+l, eight bytes at a time.
func repackK(p *Planes, i int, b []byte, five bool) {
	d, dmin := f16(b), f16(b[2:])
	scales := b[4:16]
	qs := b[16:144]
	var qh []byte
	if five {
		qh, qs = b[16:48], b[48:176]
	}
	le := binary.LittleEndian
	le.PutUint32(p.KSuper[8*i:], math.Float32bits(d))
	le.PutUint32(p.KSuper[8*i+4:], math.Float32bits(-dmin))
	for s := range 8 {
		sc, m := scaleMinK4(s, scales)
		g := 8*i + s
		p.KScale[g], p.KMin[g] = sc, m
		le.PutUint32(p.Scale[4*g:], math.Float32bits(d*float32(sc)))
		le.PutUint32(p.Min[4*g:], math.Float32bits(-(dmin * float32(m))))
	}
	for j := range 4 {
		q := qs[32*j : 32*j+32]
		lo := p.Q[16*(8*i+2*j):] // group 2j, then 2j+1 right after
		for k := 0; k < 16; k += 8 {
			a, c := le.Uint64(q[k:]), le.Uint64(q[16+k:])
			le.PutUint64(lo[k:], a&lowNibbles|c&lowNibbles<<4)
			le.PutUint64(lo[16+k:], a>>4&lowNibbles|c&highNibbles)
		}
	}
	if five {
		// Bit s of qh[l] is the fifth bit of element l of sub-block s: the
		// 32 x 8 bit matrix transposed, eight bytes at a time.
		var h [8]uint32
		for c := range 4 {
			x := transpose8(le.Uint64(qh[8*c:]))
			for s := range 8 {
				h[s] |= uint32(byte(x>>(8*s))) << (8 * c)
			}
		}
		for s, v := range h {
			le.PutUint32(p.High[4*(8*i+s):], v)
		}
	}
}

// repackQ6K writes superblock i of a Q6_K matrix (b) into p: 256 signed
// values q-32, the float32 scale d and the 16 int8 sub-scales sc.
func repackQ6K(p *Planes, i int, b []byte) {
	ql, qh := b[:128], b[128:192]
	copy(p.Sub[16*i:16*i+16], b[192:208])
	binary.LittleEndian.PutUint32(p.Scale[4*i:], math.Float32bits(f16(b[208:])))
	// Element l of each 32 takes a nibble of ql and two bits of qh[l];
	// eight elements at a time.
	le := binary.LittleEndian
	out := p.Q[256*i : 256*i+256]
	for n := range 2 {
		l4, h4, y := ql[64*n:64*n+64], qh[32*n:32*n+32], out[128*n:128*n+128]
		for l := 0; l < 32; l += 8 {
			a, c, h := le.Uint64(l4[l:]), le.Uint64(l4[l+32:]), le.Uint64(h4[l:])
			le.PutUint64(y[l:], minus32(a&lowNibbles|h&twoBits<<4))
			le.PutUint64(y[l+32:], minus32(c&lowNibbles|h>>2&twoBits<<4))
			le.PutUint64(y[l+64:], minus32(a>>4&lowNibbles|h>>4&twoBits<<4))
			le.PutUint64(y[l+96:], minus32(c>>4&lowNibbles|h>>6&twoBits<<4))
		}
	}
}

// twoBits masks the low two bits of eight bytes.
const twoBits = 0x0303030303030303

// minus32 subtracts 32 from eight 6-bit values in [0, 64), giving int8s in
// [-32, 32): flipping bit 5 gives the 6-bit two's complement, whose sign
// bit 5 is then copied into bits 6 and 7.
func minus32(v uint64) uint64 {
	v ^= 0x2020202020202020
	s := v & 0x2020202020202020
	return v | s<<1 | s<<2
}

// transpose8 transposes the 8 x 8 bit matrix whose row r is byte r of x
// (bit c of the byte is column c): bit c of byte r moves to bit r of byte c
// (Hacker's Delight, 7-3).
func transpose8(x uint64) uint64 {
	t := (x ^ x>>7) & 0x00aa00aa00aa00aa
	x ^= t ^ t<<7
	t = (x ^ x>>14) & 0x0000cccc0000cccc
	x ^= t ^ t<<14
	t = (x ^ x>>28) & 0x00000000f0f0f0f0
	return x ^ t ^ t<<28
}

// BlockRows rearranges a plane of rows of n units of size bytes each
// into blocks of block rows, [rows/block, n, block, size]: unit u of block
// consecutive rows becomes contiguous (what a kernel whose vector lanes
// are rows loads at once). rows must be a multiple of block and src
// rows*n*size bytes. Large planes are split over GOMAXPROCS goroutines.
func BlockRows(src []byte, rows, n, size, block int) []byte {
	dst := make([]byte, len(src))
	row := n * size
	parallel(rows/block, block*row, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			out := dst[b*block*row : (b+1)*block*row]
			for r := range block {
				in := src[(b*block+r)*row : (b*block+r+1)*row]
				if size == 4 { // the common case, a word at a time
					for u := range n {
						binary.LittleEndian.PutUint32(out[(u*block+r)*4:], binary.LittleEndian.Uint32(in[u*4:]))
					}
					continue
				}
				for u := range n {
					copy(out[(u*block+r)*size:][:size], in[u*size:][:size])
				}
			}
		}
	})
	return dst
}

// grain is the fewest elements worth a goroutine of their own.
const grain = 1 << 19

// parallel runs fn over blocks [0, n) of elems elements each, split into
// ranges on as many goroutines as GOMAXPROCS allows and grain warrants;
// small matrices run on the caller's.
func parallel(n, elems int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/max(grain/elems, 1))
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() { fn(lo, min(lo+chunk, n)) })
	}
	wg.Wait()
}
