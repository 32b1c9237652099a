package gguf

import (
	"math/rand/v2"
	"os"
	"testing"
)

// BenchmarkParse reads stories260K.gguf (1.2 MB: 19 keys with a 512-token
// vocabulary, 48 tensors) from memory; MB/s counts the whole file.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(sharedData(b, "gguf/stories260K.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("stories260K.gguf", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanes repacks a 4096 x 4096 tensor of a GGUF file into
// quant.Planes; MB/s counts the tensor's bytes.
func BenchmarkPlanes(b *testing.B) {
	for _, typ := range []Type{Q4_0, Q4_K, Q8_0, Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			r := rand.New(rand.NewPCG(9, 9))
			raw := make([]byte, 4096*4096/typ.BlockElems()*typ.BlockBytes())
			for i := range raw {
				raw[i] = byte(r.Uint32())
			}
			f, err := Parse("bench.gguf", writeFile(b, nil, []WriteTensor{{"w", typ, []uint64{4096, 4096}, raw}}))
			if err != nil {
				b.Fatal(err)
			}
			t := f.Tensors[0]
			b.SetBytes(int64(len(t.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := t.Planes(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
