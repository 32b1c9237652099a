package models

import (
	"testing"
)

// BenchmarkDecodeStories260K times one decoding step of the embedded
// stories260K (a JIT replay of about 90 small kernels).
func BenchmarkDecodeStories260K(b *testing.B) {
	m, _, err := Open("", OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	s := m.NewSession(512)
	if _, err := s.Prefill([]int{1}); err != nil {
		b.Fatal(err)
	}
	tok := 403
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Len() == s.Cap() {
			s.Reset()
		}
		if _, err := s.Step(tok); err != nil {
			b.Fatal(err)
		}
	}
}
