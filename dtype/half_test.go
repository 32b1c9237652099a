package dtype

import (
	"math"
	"testing"
)

// TestHalf: every half converts to float32 and back unchanged (NaNs stay
// NaNs), and rounding to half is to nearest, ties to even.
func TestHalf(t *testing.T) {
	// Every half converts to float32 and back unchanged (NaNs stay NaNs).
	for h := range 1 << 16 {
		f := Float16Float(uint16(h))
		back := Float16Bits(f)
		if f != f {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("half %#x: NaN came back as %#x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("half %#x -> %v -> %#x", h, f, back)
		}
	}
	tests := []struct {
		f    float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},               // tie to even (down)
		{1 + 3.0/2048, 0x3c02},               // tie to even (up)
		{65520, 0x7c00},                      // rounds up to Inf
		{65519, 0x7bff},                      // largest finite
		{float32(math.Ldexp(1, -25)), 0},     // tie with zero: to even
		{float32(math.Ldexp(3, -26)), 1},     // above the tie: smallest subnormal
		{float32(math.Ldexp(1, -14)), 0x400}, // smallest normal
		{-2, 0xc000},
	}
	for _, tt := range tests {
		if got := Float16Bits(tt.f); got != tt.want {
			t.Errorf("Float16Bits(%v) = %#x, want %#x", tt.f, got, tt.want)
		}
	}
}
