package uop

// Op is a primitive operation. Every Tensor method is a composition of the 36
// ops above the kernel-level group (20 elementwise, 1 reduce, 6 movement and
// 9 data ops); a backend only has to render the compute ops besides loads and
// stores. The kernel-level group exists only inside the scheduler and codegen.
type Op uint8

const (
	Invalid Op = iota

	// Unary compute ops.
	EXP2  // 2^x
	LOG2  // log2(x)
	SIN   // sin(x), x in radians
	SQRT  // square root
	RECIP // 1/x
	NEG   // -x (logical not for bool)
	TRUNC // round toward zero

	// Binary compute ops.
	ADD   // a + b (or for bool)
	MUL   // a * b (and for bool)
	IDIV  // integer division, truncating toward zero
	MOD   // integer remainder, sign of a (a - b*IDIV(a, b))
	MAX   // the larger of a and b (NaN wins)
	CMPLT // a < b, giving bool
	CMPNE // a != b, giving bool
	AND   // bitwise/logical and
	OR    // bitwise/logical or
	XOR   // bitwise/logical xor
	SHL   // a << b (integers)
	SHR   // a >> b (integers; arithmetic for signed)

	// Ternary compute op.
	WHERE // cond ? a : b

	// Reduce.
	REDUCE_AXIS // reduce src over Arg.(ReduceArg).Axes with ADD, MUL or MAX; those axes become 1

	// Movement ops: views, no data moves.
	RESHAPE // same elements, new shape (Arg []int)
	PERMUTE // reorder axes (Arg []int)
	EXPAND  // broadcast size-1 axes (Arg []int, the new shape)
	PAD     // zero padding (Arg [][2]int, before and after per axis)
	SHRINK  // keep a window (Arg [][2]int, start and end per axis)
	FLIP    // reverse axes (Arg []bool)

	// Data ops.
	CONST      // a scalar constant (Arg the value)
	BUFFER     // a realized device buffer (Arg the buffer)
	CAST       // convert the value to DType
	BITCAST    // reinterpret the bits as DType (same size)
	COPY       // copy src to another device (Arg the device name)
	ASSIGN     // write src[1] into the buffer of src[0]; in kernels, update an accumulator
	CONTIGUOUS // realize src into its own contiguous buffer; in programs, src rounded as if stored (a row kernel's value read by a later loop)
	DETACH     // src itself, through which no gradient flows
	BIND       // a DEFINE_VAR (src[0]) with its value for one realize (src[1], a CONST)

	// Kernel-level ops, made and consumed by the scheduler and codegen only.
	LOAD          // read a buffer: (DEFINE_GLOBAL, VIEW) in kernel ASTs, (buffer, index[, valid]) in programs
	STORE         // write a buffer: (DEFINE_GLOBAL, VIEW, value) in ASTs, (buffer, index, value) in programs
	SINK          // the roots of a graph
	VIEW          // a ShapeTracker (Arg) on a load, store or const in a kernel AST
	DEFINE_GLOBAL // kernel argument number Arg (a buffer)
	DEFINE_VAR    // a symbolic integer (Arg VarArg) bound at launch, like a KV-cache position
	DEFINE_ACC    // an accumulator (Arg AccArg), src are its reduce ranges
	RANGE         // a loop variable 0..Arg.(RangeArg).Size
	ENDRANGE      // closes the loop of src[0]
	MULACC        // a*b + c, fused by the optimiser for backends with FMA-like loops
	VECTORIZE     // a vector of DType made of its sources, one per lane
	GEP           // lane Arg of the vector src[0]
	DOT2          // int32 lane l = a[2l]*b[2l] + a[2l+1]*b[2l+1] of int16 vectors a, b of twice the lanes (x86's pmaddwd), made by the vectorizer
	DOT4          // int32 lane l = sum over k < 4 of a[4l+k]*b[4l+k], a uint8 and b int8 vectors of four times the lanes (x86's vpdpbusd), made by the vectorizer
	DEFINE_LOCAL  // a kernel-local array of DType elements (Arg LocalArg), loaded and stored like a buffer

	numOps
)

var opNames = [...]string{
	Invalid: "INVALID", EXP2: "EXP2", LOG2: "LOG2", SIN: "SIN", SQRT: "SQRT", RECIP: "RECIP", NEG: "NEG", TRUNC: "TRUNC",
	ADD: "ADD", MUL: "MUL", IDIV: "IDIV", MOD: "MOD", MAX: "MAX", CMPLT: "CMPLT", CMPNE: "CMPNE",
	AND: "AND", OR: "OR", XOR: "XOR", SHL: "SHL", SHR: "SHR", WHERE: "WHERE", MULACC: "MULACC",
	REDUCE_AXIS: "REDUCE_AXIS", RESHAPE: "RESHAPE", PERMUTE: "PERMUTE", EXPAND: "EXPAND", PAD: "PAD",
	SHRINK: "SHRINK", FLIP: "FLIP", CONST: "CONST", BUFFER: "BUFFER", CAST: "CAST", BITCAST: "BITCAST",
	COPY: "COPY", ASSIGN: "ASSIGN", CONTIGUOUS: "CONTIGUOUS", DETACH: "DETACH", BIND: "BIND", LOAD: "LOAD", STORE: "STORE",
	SINK: "SINK", VIEW: "VIEW", DEFINE_GLOBAL: "DEFINE_GLOBAL", DEFINE_VAR: "DEFINE_VAR",
	DEFINE_ACC: "DEFINE_ACC", DEFINE_LOCAL: "DEFINE_LOCAL", RANGE: "RANGE", ENDRANGE: "ENDRANGE", VECTORIZE: "VECTORIZE", GEP: "GEP", DOT2: "DOT2", DOT4: "DOT4",
}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return "OP?"
}

// IsUnary reports whether o is a unary compute op.
func (o Op) IsUnary() bool { return o >= EXP2 && o <= TRUNC }

// IsBinary reports whether o is a binary compute op.
func (o Op) IsBinary() bool { return o >= ADD && o <= SHR }

// IsTernary reports whether o is a ternary compute op.
func (o Op) IsTernary() bool { return o == WHERE || o == MULACC }

// IsALU reports whether o is an elementwise compute op.
func (o Op) IsALU() bool { return o.IsUnary() || o.IsBinary() || o.IsTernary() }

// IsMovement reports whether o is a movement (view) op.
func (o Op) IsMovement() bool { return o >= RESHAPE && o <= FLIP }

// IsCommutative reports whether a binary op gives the same result with its
// operands swapped.
func (o Op) IsCommutative() bool {
	switch o {
	case ADD, MUL, MAX, CMPNE, AND, OR, XOR:
		return true
	}
	return false
}

// IsComparison reports whether o yields a bool.
func (o Op) IsComparison() bool { return o == CMPLT || o == CMPNE }
