package gguf_test

import (
	"bytes"
	"fmt"

	"github.com/gograd/gograd/nn/gguf"
	"github.com/gograd/gograd/nn/quant"
)

// A Q8_0 matrix written to GGUF and read back as planes.
func Example() {
	w := []float32{
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 127,
	}
	p, _ := quant.QuantizeQ8_0(1, 32, w)
	blocks, _ := p.Blocks(quant.Q8_0)

	var buf bytes.Buffer
	err := gguf.Write(&buf, []gguf.KV{
		{Key: "general.architecture", Value: gguf.ValueOf("llama")},
		{Key: "llama.embedding_length", Value: gguf.ValueOf(uint32(32))},
	}, []gguf.WriteTensor{{Name: "w", Type: gguf.Q8_0, Dims: []uint64{32, 1}, Data: blocks}})
	if err != nil {
		panic(err)
	}

	f, err := gguf.Parse("example.gguf", buf.Bytes())
	if err != nil {
		panic(err)
	}
	dim, _ := f.Int("llama.embedding_length")
	t, _ := f.Tensor("w")
	planes, _ := t.Planes()
	fmt.Println(dim, t.Type, t.Shape(), planes.Bits, planes.Group)
	fmt.Println(planes.Dequantize()[29:])
	_, err = f.String("general.name")
	fmt.Println(err)
	// Output:
	// 32 Q8_0 [1 32] 8 32
	// [29 30 127]
	// gguf: example.gguf: key "general.name": no such key
}
