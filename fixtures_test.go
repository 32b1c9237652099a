package gograd_test

// The PyTorch fixture suite: tools/gen_fixtures.py runs torch 1.13 and
// writes testdata/fixtures/<area>.json; this test rebuilds every case's
// inputs in gograd (data, then the same movement ops, so ops see strided
// views), runs the op through the table fixtureOps and compares shape, dtype
// and values with the tolerance class the case names (see fixtureTolerances).
// fixtures_nn_test.go adds the nn area (nn.go, index.go) to the same table;
// fixtures_grad_test.go checks the gradients the cases also hold.
//
// Regenerate with: /usr/bin/python3 tools/gen_fixtures.py
// Run one case:    go test -run 'TestFixtures/elementwise/Add/f32_broadcast$'
// Flags:           -fixtures.all (every differing element), -fixtures.slack
//                  (how much of each tolerance the suite uses),
//                  -fixtures.known (run the known backward failures)

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/dtype"
)

// fxTol bounds |got-want| <= atol + rtol*|want| for float outputs.
type fxTol struct{ atol, rtol float64 }

// fixtureTolerances holds, in one place, how close gograd must be to PyTorch, by
// the class a case names and the output dtype. Integer and bool outputs are
// always exact; NaN equals NaN (any payload) and infinities must match.
//
//   - bits: bit for bit, -0.0 and +0.0 distinguished (movement, creation,
//     casts, Neg, Abs, Floor, Ceil, Trunc, Where).
//   - exact: equal values, where -0.0 equals +0.0 (comparisons, Round,
//     min/max, Relu, and single IEEE ops like Add, which gograd computes in
//     float32 for halves and rounds once, as torch does): the sign of a
//     zero from max(-0, 0) or a remainder is not something to pin.
//   - default: one or a few roundings apart (Div as a*(1/b), sums in another
//     order, Sqrt, Exp2, Log2, Sin, Hardswish, matmul).
//   - approx: transcendental compositions (Exp as exp2(x*log2 e), Log, Cos
//     as 1-2sin²(x/2), Tan, Tanh, Sigmoid, Pow, Softmax, norms, attention):
//     each rounding of an intermediate is amplified, and halves round after
//     every primitive while torch rounds once.
//   - erf: Erf and Gelu. gograd's Erf is a rational approximation with an
//     absolute error below 1.5e-7 whatever the dtype: approx, but float64
//     gets float32's accuracy.
//
// Gradients (fixtures_grad_test.go) name their class in "grad_tol": the
// forward class, except that bits and exact become default (a gradient sums
// over broadcast, expanded and overlapping elements, in another order than
// PyTorch), erf becomes erfgrad, and long compositions ask for more:
//
//   - erfgrad: the derivative of Erf's approximation is off by up to 7.2e-6
//     (6.4e-6 of the value, at 0), so float64 gets float32's accuracy.
//   - approx, also for the gradients of the transcendentals whose forward is
//     default (Sin, Sqrt, Exp2, ...): a gradient is a composition of its own
//     (Sin's is a sine of pi/2 - x, rounded in the input's dtype).
var fixtureTolerances = map[string]map[gograd.DType]fxTol{
	"default": {
		gograd.Float32:  {1e-6, 1e-5},
		gograd.Float64:  {1e-12, 1e-9},
		gograd.Float16:  {1e-3, 1e-3},
		gograd.BFloat16: {1e-2, 1e-2},
	},
	"approx": {
		gograd.Float32:  {1e-5, 1e-4},
		gograd.Float64:  {1e-12, 1e-9},
		gograd.Float16:  {4e-3, 4e-3},
		gograd.BFloat16: {3e-2, 3e-2},
	},
	"erf": {
		gograd.Float32:  {1e-5, 1e-4},
		gograd.Float64:  {3e-7, 1e-7},
		gograd.Float16:  {4e-3, 4e-3},
		gograd.BFloat16: {3e-2, 3e-2},
	},
	"erfgrad": {
		gograd.Float32:  {1e-5, 1e-4},
		gograd.Float64:  {1e-5, 1e-5},
		gograd.Float16:  {4e-3, 4e-3},
		gograd.BFloat16: {3e-2, 3e-2},
	},
}

var (
	fixturesAll   = flag.Bool("fixtures.all", false, "report every differing element of a fixture case, not the first 5")
	fixturesSlack = flag.Bool("fixtures.slack", false, "log, per tolerance class and dtype, the largest share of the tolerance a case used")
)

// fxSlack is the largest share of its tolerance an element used, and the case.
type fxSlack struct {
	ratio float64
	name  string
}

// fixtureSlack holds fxSlack per "class dtype", for -fixtures.slack.
var fixtureSlack = map[string]fxSlack{}

func noteSlack(k, name string, g, w float64, tol fxTol) {
	if r := math.Abs(g-w) / (tol.atol + tol.rtol*math.Abs(w)); r > fixtureSlack[k].ratio {
		fixtureSlack[k] = fxSlack{r, name}
	}
}

// fixtureAreas are the fixture files the suite must find; every JSON file
// in testdata/fixtures must be one of them.
var fixtureAreas = []string{"create", "elementwise", "reduce", "movement", "linalg"}

// fixtureOp runs one op of the table on a case's inputs and scalar args.
type fixtureOp func(in []*gograd.Tensor, a fargs) []*gograd.Tensor

type fixtureFile struct {
	Format int
	Area   string
	Torch  string
	Cases  []fixtureCase
}

type fixtureCase struct {
	Name    string
	Op      string
	Tol     string
	Note    string
	Args    fargs
	Inputs  []fixtureTensor
	Outputs []fixtureTensor

	// Backward (fixtures_grad_test.go): absent where the op has no gradient.
	GradTol     string          `json:"grad_tol"`
	GradNote    string          `json:"grad_note"`
	GradWeights []fixtureTensor `json:"grad_weights"`
	Grads       []*fixtureGrad
}

type fixtureTensor struct {
	DType string
	Shape []int
	Data  string
	Views []any // [["permute", [1, 0]], ...]
}

func TestFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		area := strings.TrimSuffix(filepath.Base(f), ".json")
		if !slices.Contains(fixtureAreas, area) {
			t.Errorf("%s: fixture file with no test (fixtureAreas lacks %q)", f, area)
		}
	}
	forEachDevice(t, func(t *testing.T) {
		for _, area := range fixtureAreas {
			t.Run(area, func(t *testing.T) { runFixtureFile(t, area) })
		}
	})
	logSlack(t, "")
}

// forEachDevice runs f once per device kind under test: GO, and the
// default device when it is another kind (CPU where a C compiler works), as
// subtests named by the kind.
func forEachDevice(t *testing.T, f func(t *testing.T)) {
	kinds := []string{"GO"}
	if kind, _, _ := strings.Cut(gograd.DefaultDevice(), ":"); kind != "GO" {
		kinds = append(kinds, kind)
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			old := gograd.SetDefaultDevice(kind)
			defer gograd.SetDefaultDevice(old)
			f(t)
		})
	}
}

// logSlack logs, for -fixtures.slack, the entries of fixtureSlack whose keys
// start with prefix ("" for the forward classes, "grad " for the gradients').
func logSlack(t *testing.T, prefix string) {
	if !*fixturesSlack {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(fixtureSlack)) {
		if strings.HasPrefix(k, "grad ") == (prefix != "") {
			t.Logf("%-22s used %5.1f%% of the tolerance (case %s)", k, 100*fixtureSlack[k].ratio, fixtureSlack[k].name)
		}
	}
}

func loadFixtures(t *testing.T, area string) fixtureFile {
	t.Helper()
	path := filepath.Join("testdata", "fixtures", area+".json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing fixture file (run /usr/bin/python3 tools/gen_fixtures.py): %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var ff fixtureFile
	if err := dec.Decode(&ff); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if ff.Format != 1 || len(ff.Cases) == 0 {
		t.Fatalf("%s: format %d with %d cases", path, ff.Format, len(ff.Cases))
	}
	return ff
}

func runFixtureFile(t *testing.T, area string) {
	ff := loadFixtures(t, area)
	seen := map[string]bool{}
	for _, c := range ff.Cases {
		if seen[c.Name] {
			t.Errorf("case %s: duplicate name", c.Name)
		}
		seen[c.Name] = true
		if _, ok := fixtureOps[c.Op]; !ok {
			t.Errorf("case %s: unknown op %q (add it to fixtureOps)", c.Name, c.Op)
			continue
		}
		if c.Tol != "exact" && c.Tol != "bits" && fixtureTolerances[c.Tol] == nil {
			t.Errorf("case %s: unknown tolerance class %q", c.Name, c.Tol)
			continue
		}
		t.Run(c.Name, func(t *testing.T) { runFixtureCase(t, c) })
	}
}

func runFixtureCase(t *testing.T, c fixtureCase) {
	outs, got, err := evalFixtureCase(c)
	if err != nil {
		t.Fatalf("case %s (%s): %v", c.Name, c.Op, err)
	}
	if len(outs) != len(c.Outputs) {
		t.Fatalf("case %s (%s): %d outputs, want %d", c.Name, c.Op, len(outs), len(c.Outputs))
	}
	for i, want := range c.Outputs {
		compareFixtureOutput(t, c, i, outs[i], got[i], want)
	}
}

// evalFixtureCase builds the inputs, runs the op and reads every output back,
// turning a panic into an error.
func evalFixtureCase(c fixtureCase) (outs []*gograd.Tensor, raw [][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	in := make([]*gograd.Tensor, len(c.Inputs))
	for i, ft := range c.Inputs {
		in[i] = ft.build()
	}
	outs = fixtureOps[c.Op](in, c.Args)
	for _, o := range outs {
		raw = append(raw, o.Bytes())
	}
	return outs, raw, nil
}

func fxDType(name string) gograd.DType {
	dt, err := dtype.Parse(name)
	if err != nil {
		panic(err)
	}
	return dt
}

func (ft fixtureTensor) bytes() []byte {
	raw, err := base64.StdEncoding.DecodeString(ft.Data)
	if err != nil {
		panic(fmt.Sprintf("bad base64: %v", err))
	}
	return raw
}

// build makes the input tensor: its data, then its views.
func (ft fixtureTensor) build() *gograd.Tensor { return ft.view(ft.base()) }

// base makes the tensor's data, before any views.
func (ft fixtureTensor) base() *gograd.Tensor {
	return gograd.FromBytes(ft.bytes(), fxDType(ft.DType), ft.Shape...)
}

// view applies the tensor's views to x.
func (ft fixtureTensor) view(x *gograd.Tensor) *gograd.Tensor {
	for _, v := range ft.Views {
		step := v.([]any)
		op, arg := step[0].(string), step[1]
		switch op {
		case "permute":
			x = x.Permute(fxInts(arg)...)
		case "expand":
			x = x.Expand(fxInts(arg)...)
		case "reshape":
			x = x.Reshape(fxInts(arg)...)
		case "flip":
			x = x.Flip(fxInts(arg)...)
		case "shrink":
			x = x.Shrink(fxPairs(arg))
		case "pad":
			x = x.Pad(fxPairs(arg))
		case "slice":
			var specs []gograd.SliceSpec
			for _, s := range arg.([]any) {
				p := fxInts(s)
				specs = append(specs, gograd.Sl(p[0], p[1], p[2]))
			}
			x = x.Slice(specs...)
		default:
			panic(fmt.Sprintf("unknown view %q", op))
		}
	}
	return x
}

// ---- comparing ---------------------------------------------------------------

func compareFixtureOutput(t *testing.T, c fixtureCase, i int, out *gograd.Tensor, got []byte, want fixtureTensor) {
	t.Helper()
	where := fmt.Sprintf("case %s (%s): output %d", c.Name, c.Op, i)
	compareFixtureTensor(t, where, c.Name, c.Tol, "", out, got, want, nil)
}

// compareFixtureTensor compares out (whose bytes are got) with want under
// tolerance class tol, at the elements where mask is true (all when nil);
// slack names the -fixtures.slack entry ("" or "grad ") and name the case.
func compareFixtureTensor(t fxReporter, where, name, tol, slack string, out *gograd.Tensor, got []byte, want fixtureTensor, mask []bool) {
	t.Helper()
	wdt := fxDType(want.DType)
	if !slices.Equal(out.Shape(), want.Shape) {
		t.Errorf("%s: shape %v, want %v", where, out.Shape(), want.Shape)
		return
	}
	if out.DType() != wdt {
		t.Errorf("%s: dtype %s, want %s", where, out.DType(), wdt)
		// Compare the values anyway, in the wanted dtype.
		got = out.Cast(wdt).Bytes()
	}
	wraw := want.bytes()
	if len(got) != len(wraw) {
		t.Errorf("%s: %d bytes, want %d", where, len(got), len(wraw))
		return
	}
	n := len(wraw) / max(wdt.Size(), 1)
	if mask != nil && len(mask) != n {
		t.Errorf("%s: mask of %d elements for %d", where, len(mask), n)
		return
	}
	bad := 0
	tc, tolName := fxTol{}, tol
	exact := tol == "exact" || tol == "bits"
	if wdt.IsFloat() && !exact {
		tc = fixtureTolerances[tol][wdt]
		tolName = fmt.Sprintf("%s: atol %g rtol %g", tol, tc.atol, tc.rtol)
	}
	for e := range n {
		if mask != nil && !mask[e] {
			continue
		}
		g, w := fxElement(got, wdt, e), fxElement(wraw, wdt, e)
		var ok bool
		if wdt.IsFloat() {
			ok = fxClose(g.f, w.f, tc, exact, tol == "bits")
			if ok && !exact {
				noteSlack(slack+tol+" "+wdt.String(), name, g.f, w.f, tc)
			}
		} else {
			ok = g.i == w.i
		}
		if !ok {
			bad++
			if bad <= 5 || *fixturesAll {
				t.Errorf("%s: element %d %v got %s want %s (tol %s)", where, e, fxUnravel(e, want.Shape), g, w, tolName)
			}
		}
	}
	if bad > 5 && !*fixturesAll {
		t.Errorf("%s: %d of %d elements differ", where, bad, n)
	}
}

// fxReporter is where a comparison reports mismatches: a *testing.T, or a
// collector for the known failures of fixtures_grad_test.go.
type fxReporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// fxValue is one element, as a float64 for floats and an int64 otherwise
// (uint32 fits; bool is 0 or 1).
type fxValue struct {
	f     float64
	i     int64
	float bool
}

func (v fxValue) String() string {
	if v.float {
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	}
	return strconv.FormatInt(v.i, 10)
}

func fxElement(raw []byte, dt gograd.DType, e int) fxValue {
	b := raw[e*dt.Size():]
	switch dt {
	case gograd.Float64:
		return fxValue{f: math.Float64frombits(binary.LittleEndian.Uint64(b)), float: true}
	case gograd.Float32:
		return fxValue{f: float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), float: true}
	case gograd.Float16:
		return fxValue{f: float64(dtype.Float16Float(binary.LittleEndian.Uint16(b))), float: true}
	case gograd.BFloat16:
		return fxValue{f: float64(dtype.BFloat16Float(binary.LittleEndian.Uint16(b))), float: true}
	case gograd.Bool, gograd.Uint8:
		return fxValue{i: int64(b[0])}
	case gograd.Int8:
		return fxValue{i: int64(int8(b[0]))}
	case gograd.Int16:
		return fxValue{i: int64(int16(binary.LittleEndian.Uint16(b)))}
	case gograd.Uint16:
		return fxValue{i: int64(binary.LittleEndian.Uint16(b))}
	case gograd.Int32:
		return fxValue{i: int64(int32(binary.LittleEndian.Uint32(b)))}
	case gograd.Uint32:
		return fxValue{i: int64(binary.LittleEndian.Uint32(b))}
	case gograd.Int64, gograd.Uint64:
		return fxValue{i: int64(binary.LittleEndian.Uint64(b))}
	}
	panic(fmt.Sprintf("no element decoding for %s", dt))
}

func fxClose(g, w float64, tol fxTol, exact, sign bool) bool {
	switch {
	case math.IsNaN(w) || math.IsNaN(g):
		return math.IsNaN(w) && math.IsNaN(g)
	case math.IsInf(w, 0) || math.IsInf(g, 0):
		return g == w
	case sign && g == w:
		return math.Signbit(g) == math.Signbit(w)
	case exact:
		return g == w
	}
	return math.Abs(g-w) <= tol.atol+tol.rtol*math.Abs(w)
}

// unravel turns a flat index into a multi-index of shape.
func fxUnravel(e int, shape []int) []int {
	idx := make([]int, len(shape))
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] > 0 {
			idx[i] = e % shape[i]
			e /= shape[i]
		}
	}
	return idx
}

// ---- arguments ---------------------------------------------------------------

// fargs are a case's scalar arguments as decoded from JSON (json.Number,
// string, bool, []any, nil).
type fargs map[string]any

func (a fargs) get(k string) any {
	v, ok := a[k]
	if !ok {
		panic(fmt.Sprintf("missing argument %q", k))
	}
	return v
}

func (a fargs) has(k string) bool { _, ok := a[k]; return ok }

// num returns a numeric argument as the Go value the op should get: an int
// for a JSON integer, a float64 for a JSON float or "nan"/"inf"/"-inf",
// a bool for a bool.
func (a fargs) num(k string) any { return fxNum(a.get(k)) }

func (a fargs) int(k string) int { return fxNum(a.get(k)).(int) }

func (a fargs) float(k string) float64 {
	switch v := fxNum(a.get(k)).(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	panic(fmt.Sprintf("argument %q is not a number: %v", k, a[k]))
}

func (a fargs) bool(k string) bool { return a.get(k).(bool) }

func (a fargs) str(k string) string { return a.get(k).(string) }

func (a fargs) ints(k string) []int { return fxInts(a.get(k)) }

func (a fargs) dtype(k string) gograd.DType { return fxDType(a.str(k)) }

func fxNum(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if strings.ContainsAny(s, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				panic(err)
			}
			return f
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			panic(err)
		}
		return i
	case string:
		switch x {
		case "nan":
			return math.NaN()
		case "inf":
			return math.Inf(1)
		case "-inf":
			return math.Inf(-1)
		}
	case bool:
		return x
	}
	panic(fmt.Sprintf("not a number: %v (%T)", v, v))
}

func fxInts(v any) []int {
	if v == nil {
		return nil
	}
	if n, ok := v.(json.Number); ok {
		return []int{fxNum(n).(int)}
	}
	var out []int
	for _, x := range v.([]any) {
		out = append(out, fxNum(x).(int))
	}
	return out
}

func fxPairs(v any) [][2]int {
	var out [][2]int
	for _, p := range v.([]any) {
		ip := fxInts(p)
		out = append(out, [2]int{ip[0], ip[1]})
	}
	return out
}

// ---- the op table ------------------------------------------------------------

func fxOne(t *gograd.Tensor) []*gograd.Tensor { return []*gograd.Tensor{t} }

func fxUnary(f func(*gograd.Tensor) *gograd.Tensor) fixtureOp {
	return func(in []*gograd.Tensor, _ fargs) []*gograd.Tensor { return fxOne(f(in[0])) }
}

// binary takes the other operand from the second input or from args "other".
func fxBinary(f func(*gograd.Tensor, any) *gograd.Tensor) fixtureOp {
	return func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		if len(in) > 1 {
			return fxOne(f(in[0], in[1]))
		}
		return fxOne(f(in[0], a.num("other")))
	}
}

// fxReduce passes args "axes" (absent: all), "keepdim" and "correction"
// as a reduction's options.
func fxReduce(f func(*gograd.Tensor, ...any) *gograd.Tensor) fixtureOp {
	return func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		var opts []any
		if a.has("axes") {
			for _, ax := range a.ints("axes") {
				opts = append(opts, ax)
			}
		}
		if a.has("axis") {
			opts = append(opts, a.int("axis"))
		}
		if a.has("keepdim") && a.bool("keepdim") {
			opts = append(opts, gograd.KeepDim)
		}
		if a.has("correction") {
			opts = append(opts, gograd.Correction(a.float("correction")))
		}
		return fxOne(f(in[0], opts...))
	}
}

// fxAlong runs a method that takes one axis, args "axis".
func fxAlong(f func(*gograd.Tensor, int) *gograd.Tensor) fixtureOp {
	return func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(f(in[0], a.int("axis"))) }
}

// fixtureOps maps a case's op to the gograd call it checks.
var fixtureOps = map[string]fixtureOp{}

func init() {
	for name, f := range map[string]func(*gograd.Tensor) *gograd.Tensor{
		"Neg": (*gograd.Tensor).Neg, "Abs": (*gograd.Tensor).Abs, "Sign": (*gograd.Tensor).Sign,
		"Exp": (*gograd.Tensor).Exp, "Exp2": (*gograd.Tensor).Exp2, "Log": (*gograd.Tensor).Log,
		"Log2": (*gograd.Tensor).Log2, "Sqrt": (*gograd.Tensor).Sqrt, "Rsqrt": (*gograd.Tensor).Rsqrt,
		"Reciprocal": (*gograd.Tensor).Reciprocal, "Sin": (*gograd.Tensor).Sin, "Cos": (*gograd.Tensor).Cos,
		"Tan": (*gograd.Tensor).Tan, "Floor": (*gograd.Tensor).Floor, "Ceil": (*gograd.Tensor).Ceil,
		"Round": (*gograd.Tensor).Round, "Trunc": (*gograd.Tensor).Trunc, "Relu": (*gograd.Tensor).Relu,
		"Relu6": (*gograd.Tensor).Relu6, "Gelu": (*gograd.Tensor).Gelu, "GeluTanh": (*gograd.Tensor).GeluTanh,
		"Silu": (*gograd.Tensor).Silu, "Sigmoid": (*gograd.Tensor).Sigmoid, "Tanh": (*gograd.Tensor).Tanh,
		"Mish": (*gograd.Tensor).Mish, "Hardswish": (*gograd.Tensor).Hardswish,
		"Hardsigmoid": (*gograd.Tensor).Hardsigmoid, "Erf": (*gograd.Tensor).Erf,
		"Not": (*gograd.Tensor).Not, "BitNot": (*gograd.Tensor).BitNot,
	} {
		fixtureOps[name] = fxUnary(f)
	}
	for name, f := range map[string]func(*gograd.Tensor, any) *gograd.Tensor{
		"Add": (*gograd.Tensor).Add, "Sub": (*gograd.Tensor).Sub, "Mul": (*gograd.Tensor).Mul,
		"Div": (*gograd.Tensor).Div, "FloorDiv": (*gograd.Tensor).FloorDiv, "Mod": (*gograd.Tensor).Mod,
		"Pow": (*gograd.Tensor).Pow, "Maximum": (*gograd.Tensor).Maximum, "Minimum": (*gograd.Tensor).Minimum,
		"Lt": (*gograd.Tensor).Lt, "Le": (*gograd.Tensor).Le, "Gt": (*gograd.Tensor).Gt,
		"Ge": (*gograd.Tensor).Ge, "Eq": (*gograd.Tensor).Eq, "Ne": (*gograd.Tensor).Ne,
		"And": (*gograd.Tensor).And, "Or": (*gograd.Tensor).Or, "Xor": (*gograd.Tensor).Xor,
		"BitAnd": (*gograd.Tensor).BitAnd, "BitOr": (*gograd.Tensor).BitOr, "BitXor": (*gograd.Tensor).BitXor,
		"Shl": (*gograd.Tensor).Shl, "Shr": (*gograd.Tensor).Shr,
	} {
		fixtureOps[name] = fxBinary(f)
	}
	ops := map[string]fixtureOp{
		"LeakyRelu": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].LeakyRelu(a.float("slope"))) },
		"Elu":       func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Elu(a.float("alpha"))) },
		"Softplus": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
			return fxOne(in[0].Softplus(a.float("beta"), a.float("threshold")))
		},
		// Clip's bounds are inputs 1 and 2, or Go numbers in args "lo" and "hi".
		"Clip": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
			if len(in) == 3 {
				return fxOne(in[0].Clip(in[1], in[2]))
			}
			return fxOne(in[0].Clip(a.num("lo"), a.num("hi")))
		},
		// Where's branches are inputs, or Go numbers in args "a" and "b".
		"Where": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
			rest := in[1:]
			pick := func(k string) any {
				if a.has(k) {
					return a.num(k)
				}
				x := rest[0]
				rest = rest[1:]
				return x
			}
			x := pick("a")
			y := pick("b")
			return fxOne(in[0].Where(x, y))
		},
		"Cast":    func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Cast(a.dtype("dtype"))) },
		"Bitcast": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Bitcast(a.dtype("dtype"))) },
	}
	for name, f := range map[string]func(*gograd.Tensor, ...any) *gograd.Tensor{
		"Sum": (*gograd.Tensor).Sum, "Prod": (*gograd.Tensor).Prod, "Max": (*gograd.Tensor).Max,
		"Min": (*gograd.Tensor).Min, "Mean": (*gograd.Tensor).Mean, "Var": (*gograd.Tensor).Var,
		"Std": (*gograd.Tensor).Std, "Any": (*gograd.Tensor).Any, "All": (*gograd.Tensor).All,
		"LogSumExp": (*gograd.Tensor).LogSumExp, "Argmax": (*gograd.Tensor).Argmax,
		"Argmin": (*gograd.Tensor).Argmin,
	} {
		ops[name] = fxReduce(f)
	}
	for name, f := range map[string]func(*gograd.Tensor, int) *gograd.Tensor{
		"Softmax": (*gograd.Tensor).Softmax, "LogSoftmax": (*gograd.Tensor).LogSoftmax,
		"CumSum": (*gograd.Tensor).CumSum, "CumMax": (*gograd.Tensor).CumMax,
	} {
		ops[name] = fxAlong(f)
	}
	for k, v := range createOps {
		ops[k] = v
	}
	for k, v := range movementOps {
		ops[k] = v
	}
	for k, v := range ops {
		fixtureOps[k] = v
	}
}

// fxSlice turns JSON slice specs into gograd's: {"at": i} is At(i), and
// [start, stop, step] is Sl with null as End.
func fxSlice(v any) []gograd.SliceSpec {
	var out []gograd.SliceSpec
	for _, s := range v.([]any) {
		if m, ok := s.(map[string]any); ok {
			out = append(out, gograd.At(fxNum(m["at"]).(int)))
			continue
		}
		p := s.([]any)
		b := [3]int{gograd.End, gograd.End, 1}
		for i, x := range p {
			if x != nil {
				b[i] = fxNum(x).(int)
			}
		}
		out = append(out, gograd.Sl(b[0], b[1], b[2]))
	}
	return out
}

var movementOps = map[string]fixtureOp{
	"Reshape": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Reshape(a.ints("shape")...)) },
	"Permute": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Permute(a.ints("order")...)) },
	"Transpose": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Transpose(a.int("a"), a.int("b")))
	},
	"Expand": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Expand(a.ints("shape")...)) },
	"Squeeze": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		if a.has("axes") {
			return fxOne(in[0].Squeeze(a.ints("axes")...))
		}
		return fxOne(in[0].Squeeze())
	},
	"Unsqueeze": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Unsqueeze(a.int("axis"))) },
	"Flatten": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		if a.has("axes") {
			return fxOne(in[0].Flatten(a.ints("axes")...))
		}
		return fxOne(in[0].Flatten())
	},
	"Unflatten": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Unflatten(a.int("axis"), a.ints("sizes")...))
	},
	"Pad": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Pad(fxPairs(a.get("pads")))) },
	"PadValue": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].PadValue(fxPairs(a.get("pads")), a.num("value")))
	},
	"PadMode": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].PadMode(fxPairs(a.get("pads")), a.str("mode")))
	},
	"Shrink": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Shrink(fxPairs(a.get("bounds"))))
	},
	"Slice": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Slice(fxSlice(a.get("specs"))...))
	},
	"Flip": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		if a.has("axes") {
			return fxOne(in[0].Flip(a.ints("axes")...))
		}
		return fxOne(in[0].Flip())
	},
	"Repeat": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Repeat(a.ints("reps")...)) },
	"Roll": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Roll(a.int("shift"), a.int("axis")))
	},
	"Cat":   func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(gograd.Cat(a.int("axis"), in...)) },
	"Stack": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(gograd.Stack(a.int("axis"), in...)) },
	"Split": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return in[0].Split(a.int("axis"), a.ints("sizes")...)
	},
	"Chunk": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return in[0].Chunk(a.int("n"), a.int("axis")) },
	"Contiguous": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Contiguous())
	},
}

var createOps = map[string]fixtureOp{
	"Full": func(_ []*gograd.Tensor, a fargs) []*gograd.Tensor {
		if a.has("dtype") {
			return fxOne(gograd.Full(a.ints("shape"), a.num("value"), a.dtype("dtype")))
		}
		return fxOne(gograd.Full(a.ints("shape"), a.num("value")))
	},
	"Zeros":  func(_ []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(gograd.Zeros(a.ints("shape")...)) },
	"Ones":   func(_ []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(gograd.Ones(a.ints("shape")...)) },
	"Arange": func(_ []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(gograd.Arange(a.int("n"))) },
	"ArangeF": func(_ []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(gograd.ArangeF(a.float("start"), a.float("stop"), a.float("step")))
	},
	"Linspace": func(_ []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(gograd.Linspace(a.float("start"), a.float("stop"), a.int("n")))
	},
	"Eye": func(_ []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(gograd.Eye(a.int("n"))) },
	"FullLike": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(gograd.FullLike(in[0], a.num("value")))
	},
	"ZerosLike": func(in []*gograd.Tensor, _ fargs) []*gograd.Tensor { return fxOne(gograd.ZerosLike(in[0])) },
	"OnesLike":  func(in []*gograd.Tensor, _ fargs) []*gograd.Tensor { return fxOne(gograd.OnesLike(in[0])) },
	"Matmul":    func(in []*gograd.Tensor, _ fargs) []*gograd.Tensor { return fxOne(in[0].Matmul(in[1])) },
	"Dot":       func(in []*gograd.Tensor, _ fargs) []*gograd.Tensor { return fxOne(in[0].Dot(in[1])) },
	"Linear": func(in []*gograd.Tensor, _ fargs) []*gograd.Tensor {
		if len(in) > 2 {
			return fxOne(in[0].Linear(in[1], in[2]))
		}
		return fxOne(in[0].Linear(in[1], nil))
	},
}
