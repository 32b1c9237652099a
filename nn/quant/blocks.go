package quant

import (
	"encoding/binary"
	"fmt"

	"github.com/gograd/gograd/dtype"
)

// DequantizeBlocks decodes the blocks of format f in data to float32 in
// dst, which must hold exactly the blocks' elements. It computes each value
// as ggml's reference dequantize_row_* functions (ggml-quants.c) do, in the
// same float32 operations (no fused multiply-add), straight from the
// blocks; it is the reference that FromBlocks and Planes.Dequantize are
// tested against.
func DequantizeBlocks(f Format, data []byte, dst []float32) error {
	if !f.valid() {
		return fmt.Errorf("quant: unknown format %d", uint8(f))
	}
	bb, be := f.BlockBytes(), f.BlockElems()
	if len(data)%bb != 0 {
		return fmt.Errorf("quant: %d bytes are not a whole number of %d-byte %s blocks", len(data), bb, f)
	}
	if n := len(data) / bb; len(dst) != n*be {
		return fmt.Errorf("quant: %d %s blocks hold %d elements, dst has %d", n, f, n*be, len(dst))
	}
	for len(data) > 0 {
		b, y := data[:bb], dst[:be]
		switch f {
		case Q8_0:
			d := f16(b)
			for j := range 32 {
				y[j] = float32(int8(b[2+j])) * d
			}
		case Q4_0:
			d := f16(b)
			for j, q := range b[2:18] {
				y[j] = float32(int(q&0xf)-8) * d
				y[j+16] = float32(int(q>>4)-8) * d
			}
		case Q4_1:
			d, m := f16(b), f16(b[2:])
			for j, q := range b[4:20] {
				y[j] = float32(float32(q&0xf)*d) + m
				y[j+16] = float32(float32(q>>4)*d) + m
			}
		case Q5_0:
			d := f16(b)
			qh := binary.LittleEndian.Uint32(b[2:])
			for j, q := range b[6:22] {
				x0 := int(q&0xf) | int(qh>>j&1)<<4
				x1 := int(q>>4) | int(qh>>(j+16)&1)<<4
				y[j] = float32(x0-16) * d
				y[j+16] = float32(x1-16) * d
			}
		case Q5_1:
			d, m := f16(b), f16(b[2:])
			qh := binary.LittleEndian.Uint32(b[4:])
			for j, q := range b[8:24] {
				x0 := int(q&0xf) | int(qh>>j&1)<<4
				x1 := int(q>>4) | int(qh>>(j+16)&1)<<4
				y[j] = float32(float32(x0)*d) + m
				y[j+16] = float32(float32(x1)*d) + m
			}
		case Q4_K, Q5_K:
			d, dmin := f16(b), f16(b[2:])
			scales := b[4:16]
			var qh, qs []byte
			if f == Q5_K {
				qh, qs = b[16:48], b[48:176]
			} else {
				qs = b[16:144]
			}
			for j := range 4 { // 64 elements: sub-blocks 2j (low nibbles) and 2j+1 (high)
				sc, m := scaleMinK4(2*j, scales)
				d1, m1 := d*float32(sc), dmin*float32(m)
				sc, m = scaleMinK4(2*j+1, scales)
				d2, m2 := d*float32(sc), dmin*float32(m)
				q := qs[32*j : 32*j+32]
				for l := range 32 {
					x0, x1 := int(q[l]&0xf), int(q[l]>>4)
					if qh != nil {
						x0 |= int(qh[l]>>(2*j)&1) << 4
						x1 |= int(qh[l]>>(2*j+1)&1) << 4
					}
					y[64*j+l] = float32(d1*float32(x0)) - m1
					y[64*j+32+l] = float32(d2*float32(x1)) - m2
				}
			}
		case Q6_K:
			ql, qh, sc := b[:128], b[128:192], b[192:208]
			d := f16(b[208:])
			for n := range 2 { // two halves of 128 elements
				l4, h4, s8, y8 := ql[64*n:], qh[32*n:], sc[8*n:], y[128*n:]
				for l := range 32 {
					is := l / 16
					q1 := int(l4[l]&0xf|(h4[l]>>0&3)<<4) - 32
					q2 := int(l4[l+32]&0xf|(h4[l]>>2&3)<<4) - 32
					q3 := int(l4[l]>>4|(h4[l]>>4&3)<<4) - 32
					q4 := int(l4[l+32]>>4|(h4[l]>>6&3)<<4) - 32
					y8[l] = d * float32(int8(s8[is])) * float32(q1)
					y8[l+32] = d * float32(int8(s8[is+2])) * float32(q2)
					y8[l+64] = d * float32(int8(s8[is+4])) * float32(q3)
					y8[l+96] = d * float32(int8(s8[is+6])) * float32(q4)
				}
			}
		}
		data, dst = data[bb:], dst[be:]
	}
	return nil
}

// f16 reads a little-endian half at b[0:2] as float32.
func f16(b []byte) float32 { return dtype.Float16Float(binary.LittleEndian.Uint16(b)) }

// scaleMinK4 unpacks sub-block j's 6-bit scale and min from the 12 bytes
// of a Q4_K or Q5_K superblock (ggml's get_scale_min_k4): sub-blocks 0-3
// keep theirs in the low 6 bits of bytes j and j+4; 4-7 in the nibbles of
// byte j+4 with the top two bits of bytes j-4 and j.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | q[j-4]>>6<<4, q[j+4]>>4 | q[j]>>6<<4
}
