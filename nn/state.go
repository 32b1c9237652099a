package nn

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gograd/gograd"
)

// This file finds a model's tensors by reflection: Tensors (and Parameters,
// Buffers, StateDict over it) and LoadStateDict.

// Named is one tensor of a model with its state-dict name.
type Named struct {
	Name   string
	Tensor *gograd.Tensor
	// Buffer marks state that is not a parameter (a field tagged
	// `gograd:",buffer"`, like BatchNorm's running statistics): it is saved
	// and loaded, but not trained.
	Buffer bool
}

// Tensors returns every non-nil tensor of model with its name, in the order
// of the struct fields (PyTorch's registration order). It walks exported
// *gograd.Tensor fields through structs, pointers, interfaces, slices and
// arrays (the index is part of the name) and maps with string keys (sorted);
// unexported fields, functions and channels are skipped, and a pointer that
// leads back to a struct being walked is not followed again. A field's name
// is its Go name lower-cased, or the name in a `gograd:"name"` tag; a tag
// of "-" skips the field, and ",buffer" marks it (and all below it) as a
// buffer. An embedded struct without a tag name adds no name of its own.
// A tensor reachable by two paths is listed under both (as tied weights are
// in PyTorch's state_dict). Two different tensors with one name panic.
func Tensors(model any) []Named {
	w := walker{op: "Tensors", seen: map[string]*gograd.Tensor{}}
	w.walk(reflect.ValueOf(model), "", false)
	return w.out
}

// Parameters returns the trainable tensors of model (all but buffers), each
// once, in field order: what an optimizer updates.
func Parameters(model any) []*gograd.Tensor {
	var out []*gograd.Tensor
	seen := map[*gograd.Tensor]bool{}
	for _, n := range Tensors(model) {
		if !n.Buffer && !seen[n.Tensor] {
			seen[n.Tensor] = true
			out = append(out, n.Tensor)
		}
	}
	return out
}

// Buffers returns the tensors of model that are state but not parameters
// (BatchNorm's running statistics), each once, in field order. A training
// step can realize them with the loss so that the running statistics are
// updated by the same kernels that compute the batch statistics.
func Buffers(model any) []*gograd.Tensor {
	var out []*gograd.Tensor
	seen := map[*gograd.Tensor]bool{}
	for _, n := range Tensors(model) {
		if n.Buffer && !seen[n.Tensor] {
			seen[n.Tensor] = true
			out = append(out, n.Tensor)
		}
	}
	return out
}

// StateDict returns the tensors of model by name, parameters and buffers,
// as PyTorch's state_dict. The tensors are the model's own, not copies.
func StateDict(model any) map[string]*gograd.Tensor {
	out := map[string]*gograd.Tensor{}
	for _, n := range Tensors(model) {
		out[n.Name] = n.Tensor
	}
	return out
}

// checkState returns the problems of loading state into a model with
// tensors own: missing, unexpected, nil and mis-shaped names, sorted.
func checkState(own []Named, state map[string]*gograd.Tensor) []string {
	var problems []string
	want := map[string]bool{}
	for _, n := range own {
		want[n.Name] = true
		src, ok := state[n.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %q (shape %s)", n.Name, shapeStr(n.Tensor.Shape())))
		case src == nil:
			problems = append(problems, fmt.Sprintf("%q is nil", n.Name))
		case !slices.Equal(src.Shape(), n.Tensor.Shape()):
			problems = append(problems, fmt.Sprintf("%q has shape %s, the model's has %s", n.Name, shapeStr(src.Shape()), shapeStr(n.Tensor.Shape())))
		}
	}
	for name := range state {
		if !want[name] {
			problems = append(problems, fmt.Sprintf("unexpected %q", name))
		}
	}
	slices.Sort(problems)
	return problems
}

// BindStateDict makes model's tensor fields the tensors of state, by name,
// without copying anything: after it, the model computes with state's
// tensors (for the tensors of a SafetensorsFile, the mapped file itself),
// which take the dtype they have. It checks names and shapes as
// LoadStateDict does and changes nothing when it returns an error. A
// replaced parameter that required gradients passes that on to its
// replacement (if it is a float tensor). A tensor the model holds under two
// names (tied weights) is replaced by its first name's tensor everywhere,
// so the tie holds. Unlike LoadStateDict, it breaks the
// link with anything holding the old tensors (an optimizer made before), and
// the model must be reachable through pointers so that its fields can be
// set.
func BindStateDict(model any, state map[string]*gograd.Tensor) error {
	w := walker{op: "BindStateDict", seen: map[string]*gograd.Tensor{}}
	w.walk(reflect.ValueOf(model), "", false)
	problems := checkState(w.out, state)
	for i, n := range w.out {
		if !w.fields[i].CanSet() {
			problems = append(problems, fmt.Sprintf("%q cannot be set: pass the model by pointer", n.Name))
		}
	}
	if len(problems) > 0 {
		return errors.New("nn: BindStateDict: " + strings.Join(problems, "; "))
	}
	bound := map[*gograd.Tensor]*gograd.Tensor{} // old tensor -> new, to keep ties
	for i, n := range w.out {
		src, tied := bound[n.Tensor]
		if !tied {
			src = state[n.Name]
			bound[n.Tensor] = src
			if n.Tensor.GradRequired() && src.DType().IsFloat() {
				src.RequiresGrad(true)
			}
		}
		w.fields[i].Set(reflect.ValueOf(src))
	}
	return nil
}

// LoadStateDict writes the tensors of state into model's tensors of the
// same names, as PyTorch's load_state_dict (strict): every tensor of the
// model must be in state with its exact shape, and state must hold nothing
// else. It checks everything first and changes nothing when it returns an
// error, which lists every missing, unexpected and mis-shaped name. Loading
// is an Assign into each tensor, converting the dtype if it differs, so the
// model keeps its tensors (an optimizer holding them stays valid); the
// assigns are realized before it returns, so state may be dropped after. A
// tensor the model holds under two names (tied weights) takes the value of
// its first name.
func LoadStateDict(model any, state map[string]*gograd.Tensor) error {
	own := Tensors(model)
	if problems := checkState(own, state); len(problems) > 0 {
		return errors.New("nn: LoadStateDict: " + strings.Join(problems, "; "))
	}
	var targets []*gograd.Tensor
	done := map[*gograd.Tensor]bool{}
	for _, n := range own {
		if done[n.Tensor] { // a tied tensor takes its first name's value
			continue
		}
		done[n.Tensor] = true
		src := state[n.Name]
		if src.Device() != n.Tensor.Device() {
			src = src.To(n.Tensor.Device())
		}
		targets = append(targets, n.Tensor.Assign(src.Detach()))
	}
	gograd.Realize(targets...)
	return nil
}

var (
	tensorType  = reflect.TypeFor[*gograd.Tensor]()
	trainerType = reflect.TypeFor[trainer]()
	holdsCache  sync.Map // reflect.Type -> bool
)

// holds reports whether a value of type t may contain a tensor or a
// trainer, so that the walk skips []float32 data and the like.
func holds(t reflect.Type) bool {
	if v, ok := holdsCache.Load(t); ok {
		return v.(bool)
	}
	r := holdsRec(t, map[reflect.Type]bool{})
	holdsCache.Store(t, r)
	return r
}

func holdsRec(t reflect.Type, onPath map[reflect.Type]bool) bool {
	if t == tensorType || t.Implements(trainerType) || reflect.PointerTo(t).Implements(trainerType) {
		return true
	}
	if onPath[t] {
		return false // a recursive type holds a tensor only through another field
	}
	onPath[t] = true
	defer delete(onPath, t)
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsRec(t.Elem(), onPath)
	case reflect.Map:
		return t.Key().Kind() == reflect.String && holdsRec(t.Elem(), onPath)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if (f.IsExported() || f.Anonymous) && holdsRec(f.Type, onPath) {
				return true
			}
		}
	}
	return false
}

// walker visits a model's tensors (collecting them in out) and trainers
// (calling visit).
type walker struct {
	op     string
	out    []Named
	fields []reflect.Value           // the field of each tensor of out
	seen   map[string]*gograd.Tensor // name -> tensor, to catch clashes
	visit  func(trainer)
	onPath []pathPtr // pointers being walked, against cycles
}

// pathPtr is a pointer being walked: address and type, since a struct and
// its first field share an address.
type pathPtr struct {
	p uintptr
	t reflect.Type
}

// join appends a name component to a dotted prefix.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	if name == "" {
		return prefix
	}
	return prefix + "." + name
}

// tagOf parses a `gograd:"name,buffer"` tag.
func tagOf(f reflect.StructField) (name string, buffer, skip bool) {
	tag, ok := f.Tag.Lookup("gograd")
	if !ok {
		return "", false, false
	}
	if tag == "-" {
		return "", false, true
	}
	name, opts, _ := strings.Cut(tag, ",")
	for _, o := range strings.Split(opts, ",") {
		if o == "buffer" {
			buffer = true
		}
	}
	return name, buffer, false
}

func (w *walker) walk(v reflect.Value, prefix string, buffer bool) {
	if !v.IsValid() {
		return
	}
	if v.Type() == tensorType {
		if v.IsNil() {
			return
		}
		t := v.Interface().(*gograd.Tensor)
		if w.seen != nil {
			if prev, ok := w.seen[prefix]; ok && prev != t {
				panicf(w.op, "two different tensors are named %q", prefix)
			}
			w.seen[prefix] = t
		}
		w.out = append(w.out, Named{Name: prefix, Tensor: t, Buffer: buffer})
		w.fields = append(w.fields, v)
		return
	}
	if !holds(v.Type()) {
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem(), prefix, buffer)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		p := pathPtr{v.Pointer(), v.Type()}
		if slices.Contains(w.onPath, p) {
			return
		}
		w.onPath = append(w.onPath, p)
		w.walk(v.Elem(), prefix, buffer)
		w.onPath = w.onPath[:len(w.onPath)-1]
	case reflect.Struct:
		if w.visit != nil && reflect.PointerTo(v.Type()).Implements(trainerType) {
			if !v.CanAddr() {
				panicf(w.op, "%s at %q cannot be changed: pass the model by pointer", v.Type(), prefix)
			}
			w.visit(v.Addr().Interface().(trainer))
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			name, buf, skip := tagOf(f)
			if skip {
				continue
			}
			if name == "" && !f.Anonymous {
				name = strings.ToLower(f.Name)
			}
			fv := v.Field(i)
			if !f.IsExported() && f.Type.Kind() != reflect.Struct {
				continue // an embedded unexported pointer cannot be read
			}
			w.walk(fv, join(prefix, name), buffer || buf)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			w.walk(v.Index(i), join(prefix, strconv.Itoa(i)), buffer)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			w.walk(v.MapIndex(k), join(prefix, k.String()), buffer)
		}
	}
}
