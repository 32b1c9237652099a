package datasets

import (
	"fmt"
	"math/rand/v2"

	"github.com/gograd/gograd"
)

// Permutation returns the numbers 0 to n-1 in a random order drawn from
// seed: the same seed gives the same order (within a Go release), and
// gograd.Seed is not touched.
func Permutation(n int, seed uint64) []int {
	if n < 0 {
		panic(fmt.Sprintf("datasets: Permutation: negative length %d", n))
	}
	r := rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc909))
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- { // Fisher-Yates
		j := r.IntN(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Batches cuts order into consecutive batches of size indices; the last
// one is shorter when size does not divide len(order). The batches share
// order's memory.
func Batches(order []int, size int) [][]int {
	if size < 1 {
		panic(fmt.Sprintf("datasets: Batches: batch size %d is below 1", size))
	}
	var out [][]int
	for lo := 0; lo < len(order); lo += size {
		out = append(out, order[lo:min(lo+size, len(order))])
	}
	return out
}

// Rows holds the elements of a tensor in host memory and cuts batches of
// its rows (along axis 0) from them as new tensors. The gather is a copy on
// the host: on the device, a gather of rows (IndexSelect) is a reduce over
// every row of the tensor for every row it picks.
type Rows struct {
	raw      []byte
	dt       gograd.DType
	shape    []int
	rowBytes int
	dev      string
}

// NewRows copies t (realized first) to host memory. t needs at least one
// axis.
func NewRows(t *gograd.Tensor) *Rows {
	if t.Ndim() == 0 {
		panic("datasets: NewRows: a 0-d tensor has no rows")
	}
	r := &Rows{raw: t.Bytes(), dt: t.DType(), shape: t.Shape(), dev: t.Device()}
	if r.shape[0] > 0 {
		r.rowBytes = len(r.raw) / r.shape[0]
	}
	return r
}

// Len returns the number of rows.
func (r *Rows) Len() int { return r.shape[0] }

// Take returns the rows idx, in that order, as a new tensor (len(idx), ...)
// on the original tensor's device.
func (r *Rows) Take(idx []int) *gograd.Tensor {
	out := make([]byte, 0, len(idx)*r.rowBytes)
	for _, i := range idx {
		if i < 0 || i >= r.shape[0] {
			panic(fmt.Sprintf("datasets: Rows.Take: index %d out of range for %d rows of shape %v", i, r.shape[0], r.shape))
		}
		out = append(out, r.raw[i*r.rowBytes:(i+1)*r.rowBytes]...)
	}
	shape := append([]int{len(idx)}, r.shape[1:]...)
	t := gograd.FromBytes(out, r.dt, shape...)
	if t.Device() != r.dev {
		t = t.To(r.dev)
	}
	return t
}
