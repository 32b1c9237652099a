// Package uop is gograd's one intermediate representation: a hash-consed DAG
// of primitive operations (UOps), used for the lazy tensor graph, for kernel
// ASTs and for the linear programs that renderers turn into code. It holds the
// op list (ops.go), the pattern matcher and graph rewriter every transformation
// goes through (rewrite.go), and the symbolic simplifier for index arithmetic
// (symbolic.go).
//
// Package uop imports only dtype.
package uop

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/gograd/gograd/dtype"
)

// UOp is one node of the graph. UOps are immutable and hash-consed: two calls
// to New with equal op, dtype, sources, argument and device return the same
// pointer, so pointer equality is structural equality.
type UOp struct {
	Op     Op
	DType  dtype.DType
	Src    []*UOp
	Arg    any
	Device string // the device of a tensor-level node; "" inside kernels

	id    uint64
	shape []int // tensor-level shape; nil for kernel-level nodes
	vmin  int64 // bounds of an integer or bool kernel-level node
	vmax  int64
	key   string // the interning key; its argument's from argAt on
	argAt int

	done  atomic.Pointer[UOp] // for an ASSIGN that has run: the view of its target
	holds uint8               // which of the tracked ops (see Holds) the graph under the node has
}

// The ops Holds tracks, as bits.
const (
	holdsAssign uint8 = 1 << iota
	holdsBind
)

func holdsBit(op Op) uint8 {
	switch op {
	case ASSIGN:
		return holdsAssign
	case BIND:
		return holdsBind
	}
	return 0
}

// Holds reports whether the graph under u (u included) may hold a node of
// op: exactly for ASSIGN and BIND, which realizing looks for in every
// graph (a walk of the whole graph each time), and true for other ops.
func (u *UOp) Holds(op Op) bool {
	b := holdsBit(op)
	return b == 0 || u.holds&b != 0
}

// Keyer is implemented by argument types that are not plain values (views,
// buffers): Key must identify the value.
type Keyer interface{ Key() string }

// DeviceBuffer is what a BUFFER node's argument implements.
type DeviceBuffer interface {
	Keyer
	DeviceName() string
	Len() int // number of elements
	ElemType() dtype.DType
}

var (
	internMu sync.Mutex
	intern   = map[string]weak.Pointer[UOp]{}
	nextID   atomic.Uint64
)

// New returns the UOp with the given fields, creating it if no equal node is
// alive. The device and shape are derived from the sources and argument.
func New(op Op, dt dtype.DType, src []*UOp, arg any) *UOp {
	dev := deviceOf(op, src, arg)
	return newWithDevice(op, dt, src, arg, dev)
}

func newWithDevice(op Op, dt dtype.DType, src []*UOp, arg any, dev string) *UOp {
	var kb strings.Builder
	var b [10]byte
	kb.WriteByte(byte(op))
	kb.WriteByte(byte(dt))
	kb.WriteByte(byte(dt >> 8))
	kb.Write(b[:binary.PutUvarint(b[:], uint64(len(src)))])
	for _, s := range src {
		kb.Write(b[:binary.PutUvarint(b[:], s.id)])
	}
	kb.WriteString(dev)
	kb.WriteByte(0)
	argAt := kb.Len()
	writeArgKey(&kb, arg)
	key := kb.String()

	if u := lookup(key); u != nil {
		return u
	}
	u := &UOp{Op: op, DType: dt, Src: src, Arg: arg, Device: dev, key: key, argAt: argAt, holds: holdsBit(op)}
	for _, s := range src {
		u.holds |= s.holds
	}
	if dev != "" {
		u.shape = inferShape(u)
	}
	if dev == "" && (dt.IsInt() || dt == dtype.Bool) {
		u.vmin, u.vmax = bounds(u)
	}
	internMu.Lock()
	if wp, ok := intern[key]; ok {
		if v := wp.Value(); v != nil {
			internMu.Unlock()
			return v
		}
	}
	u.id = nextID.Add(1)
	wp := weak.Make(u)
	intern[key] = wp
	internMu.Unlock()
	runtime.AddCleanup(u, forget, cleanupArg{key, wp})
	return u
}

func lookup(key string) *UOp {
	internMu.Lock()
	defer internMu.Unlock()
	if wp, ok := intern[key]; ok {
		return wp.Value()
	}
	return nil
}

type cleanupArg struct {
	key string
	wp  weak.Pointer[UOp]
}

func forget(c cleanupArg) {
	internMu.Lock()
	if intern[c.key] == c.wp {
		delete(intern, c.key)
	}
	internMu.Unlock()
}

// Live returns the number of interned UOps (for tests of the hash-consing).
func Live() int {
	internMu.Lock()
	defer internMu.Unlock()
	return len(intern)
}

func deviceOf(op Op, src []*UOp, arg any) string {
	switch op {
	case BUFFER:
		return arg.(DeviceBuffer).DeviceName()
	case COPY:
		return arg.(string)
	}
	dev := ""
	for i, s := range src {
		if s.Device == "" {
			continue
		}
		if dev == "" {
			dev = s.Device
		} else if s.Device != dev {
			panic(fmt.Sprintf("%v: operand 0 is on %s but operand %d is on %s; move one with To()", op, dev, i, s.Device))
		}
	}
	return dev
}

func writeArgKey(kb *strings.Builder, arg any) {
	switch a := arg.(type) {
	case nil:
	case int:
		kb.WriteString("i")
		kb.WriteString(strconv.Itoa(a))
	case int64:
		kb.WriteString("l")
		kb.WriteString(strconv.FormatInt(a, 10))
	case float64:
		kb.WriteString("f")
		kb.WriteString(strconv.FormatUint(math.Float64bits(a), 16))
	case bool:
		if a {
			kb.WriteString("T")
		} else {
			kb.WriteString("F")
		}
	case string:
		kb.WriteString("s")
		kb.WriteString(a)
	case Op:
		kb.WriteString("o")
		kb.WriteString(strconv.Itoa(int(a)))
	case dtype.DType:
		kb.WriteString("d")
		kb.WriteString(strconv.Itoa(int(a)))
	case []int:
		kb.WriteString("[")
		for _, v := range a {
			kb.WriteString(strconv.Itoa(v))
			kb.WriteByte(',')
		}
	case []bool:
		kb.WriteString("b")
		for _, v := range a {
			if v {
				kb.WriteByte('1')
			} else {
				kb.WriteByte('0')
			}
		}
	case [][2]int:
		kb.WriteString("p")
		for _, v := range a {
			kb.WriteString(strconv.Itoa(v[0]))
			kb.WriteByte(':')
			kb.WriteString(strconv.Itoa(v[1]))
			kb.WriteByte(',')
		}
	case Keyer:
		kb.WriteString("k")
		kb.WriteString(a.Key())
	default:
		panic(fmt.Sprintf("uop: argument of type %T has no key", arg))
	}
}

// ArgKey is u's ArgKey(u.Arg), kept from interning it.
func (u *UOp) ArgKey() string {
	if u.key == "" {
		return ArgKey(u.Arg)
	}
	return u.key[u.argAt:]
}

// ArgKey is the text that identifies a node's argument in the interning
// key (a buffer by its identity).
func ArgKey(arg any) string {
	var kb strings.Builder
	writeArgKey(&kb, arg)
	return kb.String()
}

// Done returns, for an ASSIGN that has run, the buffer view it wrote (its
// value from then on); nil otherwise.
func (u *UOp) Done() *UOp { return u.done.Load() }

// SetDone records that the ASSIGN u has run, writing view.
func (u *UOp) SetDone(view *UOp) { u.done.Store(view) }

// ID is a number unique to this node for the life of the process.
func (u *UOp) ID() uint64 { return u.id }

// Shape is the shape of a tensor-level node. Do not modify it.
func (u *UOp) Shape() []int { return u.shape }

// Numel is the number of elements of a tensor-level node.
func (u *UOp) Numel() int { return Prod(u.shape) }

// Bounds returns the smallest and largest value an integer or bool kernel
// node can take.
func (u *UOp) Bounds() (lo, hi int64) { return u.vmin, u.vmax }

// Prod returns the product of xs (1 for none).
func Prod(xs []int) int {
	p := 1
	for _, x := range xs {
		p *= x
	}
	return p
}

// InversePermutation returns the order that undoes the permutation order:
// permuting by order, then by its inverse, restores the axes.
func InversePermutation(order []int) []int {
	inv := make([]int, len(order))
	for i, o := range order {
		inv[o] = i
	}
	return inv
}

// Toposort returns every node reachable from roots, sources before users.
func Toposort(roots ...*UOp) []*UOp {
	seen := map[*UOp]bool{}
	var out []*UOp
	var visit func(u *UOp)
	visit = func(u *UOp) {
		if seen[u] {
			return
		}
		seen[u] = true
		for _, s := range u.Src {
			visit(s)
		}
		out = append(out, u)
	}
	for _, r := range roots {
		visit(r)
	}
	return out
}

func (u *UOp) String() string {
	var b strings.Builder
	b.WriteString(u.Op.String())
	b.WriteString(" ")
	b.WriteString(u.DType.String())
	if u.Arg != nil {
		fmt.Fprintf(&b, " %v", argString(u.Arg))
	}
	if u.shape != nil {
		fmt.Fprintf(&b, " shape=%v", u.shape)
	}
	return b.String()
}

func argString(a any) string {
	if s, ok := a.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprint(a)
}

// Expr is a structural rendering of a small expression (a symbolic index):
// equal for equal expressions in any process, unlike node ids.
func (u *UOp) Expr() string {
	var b strings.Builder
	var visit func(n *UOp)
	visit = func(n *UOp) {
		b.WriteString(n.Op.String())
		if n.Arg != nil {
			b.WriteByte('<')
			writeArgKey(&b, n.Arg)
			b.WriteByte('>')
		}
		if len(n.Src) > 0 {
			b.WriteByte('(')
			for i, s := range n.Src {
				if i > 0 {
					b.WriteByte(',')
				}
				visit(s)
			}
			b.WriteByte(')')
		}
	}
	visit(u)
	return b.String()
}

// Tree renders the graph under u, one node per line, shared nodes once.
func (u *UOp) Tree() string {
	var b strings.Builder
	names := map[*UOp]int{}
	var visit func(n *UOp, depth int)
	visit = func(n *UOp, depth int) {
		pad := strings.Repeat("  ", depth)
		if i, ok := names[n]; ok {
			fmt.Fprintf(&b, "%s^%d\n", pad, i)
			return
		}
		names[n] = len(names)
		fmt.Fprintf(&b, "%s%d: %s\n", pad, names[n], n)
		for _, s := range n.Src {
			visit(s, depth+1)
		}
	}
	visit(u, 0)
	return b.String()
}
