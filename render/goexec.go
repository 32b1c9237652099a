// Package render turns a linear program from codegen into something a device
// can run: source code for compiled backends, or, for the GO device, a
// program of Go closures.
//
// Package render imports uop, dtype and device.
package render

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// chunk is the number of lanes the GO executor processes per vector step.
const chunk = 256

// kind is how a value is held while the vector loop runs.
type kind uint8

const (
	kScalar   kind = iota // one value
	kVector               // one value per lane
	kAffine               // integer base + lane*stride
	kInterval             // bool, true on lanes [lo, hi)
)

type info struct {
	kind    kind
	stride  int64 // of an affine value
	needVec bool  // an affine or interval value some consumer needs as lanes
	uses    int
	fused   bool // computed inside its consumer (an accumulate)
	hacc    bool // an accumulator with partial sums per lane, reduced when its loops end
}

// GoKernel is a kernel compiled to Go closures. It runs the loop marked
// Vector in chunks of lanes, with one small loop per op and chunk, and splits
// the outermost global loop across goroutines.
type GoKernel struct {
	Name  string
	uops  []*uop.UOp
	info  map[*uop.UOp]*info
	vec   *uop.UOp // the vector range, or nil
	outer *uop.UOp // the outermost loop, split across workers when global
	work  int64
	// noAlias forbids loads that alias buffer memory: with several stores
	// one may overwrite memory an in-place load still has to read.
	noAlias bool
	pool    sync.Pool
}

// Go compiles a linear program into a GoKernel.
func Go(name string, uops []*uop.UOp) (k *GoKernel, err error) {
	k = &GoKernel{Name: name, uops: uops, info: map[*uop.UOp]*info{}}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("render: GO backend cannot compile %s: %v", name, r)
		}
	}()
	k.analyze()
	// Build one instance now so that a bad program fails at compile time.
	k.pool.Put(k.newInstance())
	return k, nil
}

func (k *GoKernel) analyze() {
	for _, u := range k.uops {
		k.info[u] = &info{}
	}
	trips, work := int64(1), int64(1)
	var stack []int64
	for _, u := range k.uops {
		for _, s := range u.Src {
			if in, ok := k.info[s]; ok {
				in.uses++
			}
		}
		switch u.Op {
		case uop.RANGE:
			if k.outer == nil {
				k.outer = u
			}
			if u.Arg.(uop.RangeArg).Vector {
				k.vec = u
			}
			stack = append(stack, trips)
			trips *= int64(u.Arg.(uop.RangeArg).Size)
			work = max(work, trips)
		case uop.ENDRANGE:
			trips = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
	}
	k.work = work
	stores := 0
	for _, u := range k.uops {
		if u.Op == uop.STORE {
			stores++
		}
	}
	k.noAlias = stores > 1
	vecReduce := k.vec != nil && k.vec.Arg.(uop.RangeArg).Reduce
	// Accumulator updates are fused into their ASSIGN.
	for _, u := range k.uops {
		if u.Op != uop.ASSIGN {
			continue
		}
		upd := u.Src[1]
		k.info[upd].fused = true
		if val := upd.Src[1]; val.Op == uop.MUL && k.info[val].uses == 1 && upd.Op == uop.ADD {
			k.info[val].fused = true
		}
	}
	for _, u := range k.uops {
		in := k.info[u]
		switch u.Op {
		case uop.CONST, uop.DEFINE_GLOBAL, uop.DEFINE_VAR, uop.ENDRANGE, uop.STORE:
			in.kind = kScalar
		case uop.RANGE:
			if u == k.vec {
				in.kind, in.stride = kAffine, 1
			}
		case uop.DEFINE_ACC:
			if k.vec != nil && !vecReduce {
				in.kind = kVector
			}
		case uop.ASSIGN:
			// In a vector reduce loop every accumulator keeps partial sums
			// per lane, also of a value the lanes share: each lane counts it.
			if vecReduce {
				k.info[u.Src[0]].hacc = true
			}
		case uop.LOAD:
			ik := k.info[u.Src[1]].kind
			vk := kScalar
			if len(u.Src) > 2 {
				vk = k.info[u.Src[2]].kind
			}
			if ik != kScalar || vk != kScalar {
				in.kind = kVector
			}
			if vk == kVector && ik == kAffine {
				k.info[u.Src[1]].needVec = true
			}
		default:
			k.classify(u, in)
		}
	}
}

// valueKind is the kind of the value an accumulator adds up (looking through
// a fused multiply).
func (k *GoKernel) valueKind(val *uop.UOp) kind {
	if k.info[val].fused {
		for _, s := range val.Src {
			if k.info[s].kind != kScalar {
				return kVector
			}
		}
		return kScalar
	}
	if k.info[val].kind == kScalar {
		return kScalar
	}
	return kVector
}

// classify sets the kind of an ALU, CAST or BITCAST node.
func (k *GoKernel) classify(u *uop.UOp, in *info) {
	kinds := make([]kind, len(u.Src))
	anyNonScalar := false
	for i, s := range u.Src {
		kinds[i] = k.info[s].kind
		anyNonScalar = anyNonScalar || kinds[i] != kScalar
	}
	if !anyNonScalar || in.fused {
		return
	}
	isInt := u.DType.IsInt()
	switch {
	case isInt && u.Op == uop.ADD && kinds[0] != kVector && kinds[1] != kVector && kinds[0] != kInterval && kinds[1] != kInterval:
		in.kind = kAffine
		for i, s := range u.Src {
			if kinds[i] == kAffine {
				in.stride += k.info[s].stride
			}
		}
		return
	case isInt && u.Op == uop.MUL && ((kinds[0] == kAffine && u.Src[1].Op == uop.CONST) || (kinds[1] == kAffine && u.Src[0].Op == uop.CONST)):
		a, c := u.Src[0], u.Src[1]
		if kinds[1] == kAffine {
			a, c = c, a
		}
		in.kind, in.stride = kAffine, k.info[a].stride*uop.ConstInt(c)
		return
	case isInt && u.Op == uop.NEG && kinds[0] == kAffine:
		in.kind, in.stride = kAffine, -k.info[u.Src[0]].stride
		return
	case u.Op == uop.CMPLT && ((kinds[0] == kAffine && kinds[1] == kScalar) || (kinds[0] == kScalar && kinds[1] == kAffine)):
		in.kind = kInterval
		return
	case u.Op == uop.AND && u.DType == dtype.Bool && kinds[0] != kVector && kinds[1] != kVector && kinds[0] != kAffine && kinds[1] != kAffine:
		in.kind = kInterval
		return
	}
	in.kind = kVector
	for i, s := range u.Src {
		if kinds[i] == kAffine || kinds[i] == kInterval {
			k.info[s].needVec = true
		}
	}
}

// Run executes the kernel on host buffers.
func (k *GoKernel) Run(bufs []device.Mem, vars []int64) (err error) {
	raw := make([][]byte, len(bufs))
	for i, b := range bufs {
		raw[i] = b.([]byte)
	}
	workers := 1
	var outerSize int64
	if k.outer != nil && !k.outer.Arg.(uop.RangeArg).Reduce {
		outerSize = int64(k.outer.Arg.(uop.RangeArg).Size)
		units := outerSize
		if k.outer == k.vec {
			units = (outerSize + chunk - 1) / chunk
		}
		if k.work >= 1<<14 {
			workers = int(min(int64(runtime.GOMAXPROCS(0)), units))
		}
	}
	if workers <= 1 {
		in := k.get()
		defer k.pool.Put(in)
		in.lo0, in.hi0 = 0, outerSize
		return in.run(raw, vars)
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	unit := int64(1)
	if k.outer == k.vec {
		unit = chunk
	}
	units := (outerSize + unit - 1) / unit
	for w := range workers {
		lo := units * int64(w) / int64(workers) * unit
		hi := min(units*int64(w+1)/int64(workers)*unit, outerSize)
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := k.get()
			defer k.pool.Put(in)
			in.lo0, in.hi0 = lo, hi
			errs[w] = in.run(raw, vars)
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (k *GoKernel) get() *instance {
	if in, ok := k.pool.Get().(*instance); ok {
		return in
	}
	return k.newInstance()
}

// instance is one worker's registers and closures.
type instance struct {
	k        *GoKernel
	n        int   // lanes in the current chunk
	lo0, hi0 int64 // this worker's part of the outer loop
	vars     []int64
	setBufs  []func([]byte)
	varSlots []*int64
	steps    []func()
}

func (in *instance) run(raw [][]byte, vars []int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("kernel %s: %v", in.k.Name, r)
		}
	}()
	for i, set := range in.setBufs {
		if set != nil && i < len(raw) {
			set(raw[i])
		}
	}
	for i, s := range in.varSlots {
		if i < len(vars) {
			*s = vars[i]
		}
	}
	in.n = chunk
	for _, s := range in.steps {
		s()
	}
	return nil
}

// String renders the program as readable pseudo-Go, for DEBUG=4.
func (k *GoKernel) String() string {
	var b strings.Builder
	names := map[*uop.UOp]string{}
	depth := 1
	fmt.Fprintf(&b, "func %s(bufs, vars) {\n", k.Name)
	for i, u := range k.uops {
		in := k.info[u]
		name := fmt.Sprintf("v%d", i)
		names[u] = name
		var src []string
		for _, s := range u.Src {
			src = append(src, names[s])
		}
		pad := strings.Repeat("  ", depth)
		kinds := [...]string{"", "[lanes]", "[affine]", "[interval]"}
		switch u.Op {
		case uop.RANGE:
			a := u.Arg.(uop.RangeArg)
			step := "1"
			if a.Vector {
				step = fmt.Sprint(chunk, " /* vector */")
			}
			fmt.Fprintf(&b, "%sfor %s := 0; %s < %d; %s += %s {\n", pad, name, name, a.Size, name, step)
			depth++
		case uop.ENDRANGE:
			depth--
			fmt.Fprintf(&b, "%s}\n", strings.Repeat("  ", depth))
		case uop.CONST:
			fmt.Fprintf(&b, "%s%s := %s(%v)\n", pad, name, u.DType, u.Arg)
		case uop.DEFINE_GLOBAL:
			fmt.Fprintf(&b, "%s%s := bufs[%d].([]%s)\n", pad, name, u.Arg, u.DType)
		case uop.LOAD:
			fmt.Fprintf(&b, "%s%s%s := %s[%s]", pad, name, kinds[in.kind], src[0], src[1])
			if len(src) > 2 {
				fmt.Fprintf(&b, " if %s", src[2])
			}
			b.WriteString("\n")
		case uop.STORE:
			fmt.Fprintf(&b, "%s%s[%s] = %s\n", pad, src[0], src[1], src[2])
		case uop.DEFINE_ACC:
			h := ""
			if in.hacc {
				h = " /* per lane, reduced at loop end */"
			}
			fmt.Fprintf(&b, "%s%s%s := %v%s\n", pad, name, kinds[in.kind], u.Arg.(uop.AccArg).Identity, h)
		case uop.ASSIGN:
			fmt.Fprintf(&b, "%s%s = %s\n", pad, src[0], src[1])
		default:
			f := ""
			if in.fused {
				f = " /* fused */"
			}
			fmt.Fprintf(&b, "%s%s%s := %s %s(%s)%s\n", pad, name, kinds[in.kind], u.DType, u.Op, strings.Join(src, ", "), f)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// bytesAs views b as a slice of T.
func bytesAs[T any](b []byte) []T {
	var z T
	size := int(unsafe.Sizeof(z))
	if len(b) < size {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/size)
}
