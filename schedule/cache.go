package schedule

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"sync"

	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// The schedule cache. A graph that differs from one scheduled before only
// in the buffers it reads (the next layer of a model, the next batch of a
// training loop without the JIT, the next prompt of the same length) gets
// the same kernels, in the same order, with the same memory plan: its
// schedule is that one's with the buffers swapped. The key is the graph's
// structure with each buffer replaced by its slot (numbered by first
// appearance, with its device, dtype and size); a hit skips finding the
// realizes, lowering the kernels and planning memory.

// templateSlot names a buffer of a cached schedule: >= 0 the graph's input
// buffer of that slot, < 0 the new buffer -(slot+1) of the template.
type templateSlot int

type bufferSpec struct {
	dev  string
	dt   dtype.DType
	size int
}

type templateItem struct {
	kind Kind
	ast  *uop.UOp
	bufs []templateSlot
	outs []int // the nodes it realizes, by index in the graph's toposort
	deps []int
}

// templateView is how a target's value is found after the schedule runs:
// the target itself (already a buffer view), its ASSIGN's target view, or
// a new buffer of the template reshaped to the target's shape.
type templateView struct {
	self, assign bool
	buf          templateSlot
}

type template struct {
	items   []templateItem
	newBufs []bufferSpec
	views   []templateView // per target
}

// structure is a graph's key (a hash of its text) with its toposort and
// input buffers by slot.
type structure struct {
	key   string
	nodes []*uop.UOp
	bufs  []*device.Buffer
}

func structureOf(targets []*uop.UOp) structure {
	nodes := uop.Toposort(targets...)
	index := make(map[*uop.UOp]int, len(nodes))
	slot := map[*device.Buffer]int{}
	var bufs []*device.Buffer
	var kb strings.Builder
	for i, u := range nodes {
		index[u] = i
		kb.WriteString(strconv.Itoa(int(u.Op)))
		kb.WriteByte(' ')
		kb.WriteString(strconv.Itoa(int(u.DType)))
		kb.WriteByte(' ')
		kb.WriteString(u.Device)
		if b, ok := u.Arg.(*device.Buffer); ok && u.Op == uop.BUFFER {
			n, ok := slot[b]
			if !ok {
				n = len(bufs)
				slot[b] = n
				bufs = append(bufs, b)
			}
			kb.WriteString(" B")
			kb.WriteString(strconv.Itoa(n))
			kb.WriteByte(':')
			kb.WriteString(strconv.Itoa(b.Size))
		} else if u.Op == uop.CONTIGUOUS || u.Op == uop.ASSIGN {
			// Their arguments only tell one realization from another.
			kb.WriteString(" #")
		} else {
			kb.WriteByte(' ')
			kb.WriteString(u.ArgKey())
		}
		kb.WriteString(" (")
		for _, s := range u.Src {
			kb.WriteString(strconv.Itoa(index[s]))
			kb.WriteByte(',')
		}
		kb.WriteString(")\n")
	}
	kb.WriteString("targets")
	for _, t := range targets {
		kb.WriteByte(' ')
		kb.WriteString(strconv.Itoa(index[t]))
	}
	sum := sha256.Sum256([]byte(kb.String()))
	return structure{string(sum[:]), nodes, bufs}
}

// newTemplate records s, the schedule of the graph st, or returns nil when
// a part of it cannot be expressed in slots.
func newTemplate(s *Schedule, st structure, targets []*uop.UOp) *template {
	index := make(map[*uop.UOp]int, len(st.nodes))
	for i, u := range st.nodes {
		index[u] = i
	}
	inputs := make(map[*device.Buffer]templateSlot, len(st.bufs))
	for i, b := range st.bufs {
		inputs[b] = templateSlot(i)
	}
	t := &template{}
	fresh := map[*device.Buffer]templateSlot{}
	slotOf := func(b *device.Buffer) templateSlot {
		if n, ok := inputs[b]; ok {
			return n
		}
		n, ok := fresh[b]
		if !ok {
			t.newBufs = append(t.newBufs, bufferSpec{b.Dev.Name, b.DType, b.Size})
			n = templateSlot(-len(t.newBufs))
			fresh[b] = n
		}
		return n
	}
	for _, it := range s.Items {
		ti := templateItem{kind: it.Kind, ast: it.AST, deps: it.Deps}
		for _, b := range it.Bufs {
			ti.bufs = append(ti.bufs, slotOf(b))
		}
		for _, o := range it.Outs {
			i, ok := index[o]
			if !ok {
				return nil
			}
			ti.outs = append(ti.outs, i)
		}
		t.items = append(t.items, ti)
	}
	for _, tg := range targets {
		v := s.Views[tg]
		switch {
		case v == tg:
			t.views = append(t.views, templateView{self: true})
		case tg.Op == uop.ASSIGN && v == tg.Src[0]:
			t.views = append(t.views, templateView{assign: true})
		case v.Op == uop.BUFFER || v.Op == uop.RESHAPE && v.Src[0].Op == uop.BUFFER:
			if v.Op == uop.RESHAPE {
				v = v.Src[0]
			}
			b, _ := v.Arg.(*device.Buffer)
			n, ok := fresh[b]
			if !ok {
				return nil
			}
			t.views = append(t.views, templateView{buf: n})
		default:
			return nil
		}
	}
	return t
}

// instantiate is the template's schedule for the graph st (of the same
// key): its buffers in the input slots, new buffers for the rest.
func (t *template) instantiate(st structure, targets []*uop.UOp) *Schedule {
	fresh := make([]*device.Buffer, len(t.newBufs))
	for i, b := range t.newBufs {
		fresh[i] = device.NewBuffer(device.MustGet(b.dev), b.dt, b.size)
	}
	buf := func(n templateSlot) *device.Buffer {
		if n >= 0 {
			return st.bufs[n]
		}
		return fresh[-n-1]
	}
	s := &Schedule{Views: make(map[*uop.UOp]*uop.UOp, len(targets)), Cached: true}
	for _, ti := range t.items {
		it := &Item{Kind: ti.kind, AST: ti.ast, Deps: ti.deps}
		for _, n := range ti.bufs {
			it.Bufs = append(it.Bufs, buf(n))
		}
		for _, i := range ti.outs {
			it.Outs = append(it.Outs, st.nodes[i])
		}
		s.Items = append(s.Items, it)
	}
	for i, tg := range targets {
		switch v := t.views[i]; {
		case v.self:
			s.Views[tg] = tg
		case v.assign:
			s.Views[tg] = tg.Src[0]
		default:
			s.Views[tg] = uop.Buffer(buf(v.buf)).Reshape(tg.Shape())
		}
	}
	return s
}

// cacheLimit bounds the templates kept; past it the cache starts over.
const cacheLimit = 1024

var cache = struct {
	sync.Mutex
	m map[string]*template
}{m: map[string]*template{}}

func cached(key string) *template {
	cache.Lock()
	defer cache.Unlock()
	return cache.m[key]
}

func remember(key string, t *template) {
	cache.Lock()
	defer cache.Unlock()
	if len(cache.m) >= cacheLimit {
		cache.m = map[string]*template{}
	}
	cache.m[key] = t
}
