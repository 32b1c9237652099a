package gograd_test

// The nn and indexing part of the PyTorch fixture suite (testdata/fixtures/
// nn.json): the ops of nn.go and index.go, run by TestFixtures through
// fixtureOps like every other area.

import "github.com/gograd/gograd"

func init() {
	fixtureAreas = append(fixtureAreas, "nn")
	for k, v := range nnOps {
		fixtureOps[k] = v
	}
}

// optInts returns an optional list argument (nil when absent: the default).
func (a fargs) optInts(k string) []int {
	if !a.has(k) {
		return nil
	}
	return a.ints(k)
}

func (a fargs) optInt(k string) int {
	if !a.has(k) {
		return 0
	}
	return a.int(k)
}

func (a fargs) optBool(k string) bool { return a.has(k) && a.bool(k) }

// fxInput returns input i, or nil past the end (an optional weight or bias).
func fxInput(in []*gograd.Tensor, i int) *gograd.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

func fxConvOpts(a fargs) gograd.ConvOpts {
	return gograd.ConvOpts{Stride: a.optInts("stride"), Padding: a.optInts("padding"), Dilation: a.optInts("dilation"), Groups: a.optInt("groups")}
}

func fxPoolOpts(a fargs) gograd.PoolOpts {
	return gograd.PoolOpts{Kernel: a.ints("kernel"), Stride: a.optInts("stride"), Padding: a.optInts("padding"),
		Dilation: a.optInts("dilation"), CeilMode: a.optBool("ceil"), ExcludePad: a.optBool("exclude_pad")}
}

var nnOps = map[string]fixtureOp{
	"Conv1d": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Conv1d(in[1], fxInput(in, 2), fxConvOpts(a)))
	},
	"Conv2d": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Conv2d(in[1], fxInput(in, 2), fxConvOpts(a)))
	},
	"ConvTranspose2d": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		o := gograd.ConvTransposeOpts{Stride: a.optInts("stride"), Padding: a.optInts("padding"),
			OutputPadding: a.optInts("output_padding"), Dilation: a.optInts("dilation"), Groups: a.optInt("groups")}
		return fxOne(in[0].ConvTranspose2d(in[1], fxInput(in, 2), o))
	},
	"MaxPool2d": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].MaxPool2d(fxPoolOpts(a))) },
	"AvgPool2d": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].AvgPool2d(fxPoolOpts(a))) },
	"AdaptiveAvgPool2d": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].AdaptiveAvgPool2d(a.int("out_h"), a.int("out_w")))
	},
	// LayerNorm's inputs: x, then weight and bias when given ("no_bias":
	// weight only).
	"LayerNorm": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		w, b := fxInput(in, 1), fxInput(in, 2)
		if a.optBool("no_bias") {
			b = nil
		}
		return fxOne(in[0].LayerNorm(a.ints("shape"), w, b, a.float("eps")))
	},
	"RMSNorm": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].RMSNorm(fxInput(in, 1), a.float("eps")))
	},
	// BatchNorm's inputs: x, mean, variance, then weight and bias when given.
	"BatchNorm": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].BatchNorm(in[1], in[2], fxInput(in, 3), fxInput(in, 4), a.float("eps")))
	},
	"GroupNorm": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].GroupNorm(a.int("groups"), fxInput(in, 1), fxInput(in, 2), a.float("eps")))
	},
	"Embedding": func(in []*gograd.Tensor, _ fargs) []*gograd.Tensor { return fxOne(in[0].Embedding(in[1])) },
	// Attention's inputs: q, k, v, then the mask when given.
	"ScaledDotProductAttention": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].ScaledDotProductAttention(in[1], in[2], fxInput(in, 3), a.optBool("causal")))
	},
	"Dropout": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Dropout(a.float("p"))) },
	"Interpolate": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Interpolate(a.ints("size"), a.str("mode"), a.bool("align_corners")))
	},
	"Gather": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Gather(a.int("axis"), in[1])) },
	"Scatter": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].Scatter(a.int("axis"), in[1], in[2]))
	},
	"IndexSelect": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor {
		return fxOne(in[0].IndexSelect(a.int("axis"), in[1]))
	},
	"Tril":   func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Tril(a.int("k"))) },
	"Triu":   func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].Triu(a.int("k"))) },
	"OneHot": func(in []*gograd.Tensor, a fargs) []*gograd.Tensor { return fxOne(in[0].OneHot(a.int("n"))) },
}
