package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each step (0 for the first) of
// training. The schedules match PyTorch's schedulers of the same name
// stepped once per optimizer step (see Scheduler).
type Schedule interface {
	LR(step int) float64
}

func checkStep(name string, step int) {
	if step < 0 {
		panic(fmt.Sprintf("optim: %s: step %d is negative", name, step))
	}
}

// Constant is a learning rate that never changes.
type Constant float64

// LR returns c.
func (c Constant) LR(step int) float64 { checkStep("Constant", step); return float64(c) }

// StepDecay multiplies the learning rate by Gamma every StepSize steps, as
// torch.optim.lr_scheduler.StepLR: Base * Gamma^floor(step / StepSize).
type StepDecay struct {
	Base     float64
	StepSize int
	Gamma    float64
}

// LR returns the learning rate of step.
func (s StepDecay) LR(step int) float64 {
	checkStep("StepDecay", step)
	if s.StepSize <= 0 {
		panic(fmt.Sprintf("optim: StepDecay: step size %d is not positive", s.StepSize))
	}
	return s.Base * math.Pow(s.Gamma, float64(step/s.StepSize))
}

// Cosine anneals the learning rate from Base to Min over Steps steps along
// half a cosine, as torch.optim.lr_scheduler.CosineAnnealingLR (T_max =
// Steps, eta_min = Min): Min + (Base - Min) * (1 + cos(pi * step / Steps)) / 2.
// Like PyTorch's, past Steps the cosine goes on and the rate rises again.
type Cosine struct {
	Base, Min float64
	Steps     int
}

// LR returns the learning rate of step.
func (c Cosine) LR(step int) float64 {
	checkStep("Cosine", step)
	if c.Steps <= 0 {
		panic(fmt.Sprintf("optim: Cosine: %d steps is not positive", c.Steps))
	}
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*float64(step)/float64(c.Steps)))/2
}

// Warmup ramps the learning rate linearly from StartFactor times Then's
// first rate up to it over Steps steps, then follows Then from its step 0:
// PyTorch's LinearLR(start_factor, total_iters=Steps) chained with Then by
// SequentialLR(milestones=[Steps]).
type Warmup struct {
	Steps       int
	StartFactor float64 // in (0, 1]
	Then        Schedule
}

// LR returns the learning rate of step.
func (w Warmup) LR(step int) float64 {
	checkStep("Warmup", step)
	switch {
	case w.Then == nil:
		panic("optim: Warmup: no schedule to warm up to (Then is nil)")
	case w.Steps < 0:
		panic(fmt.Sprintf("optim: Warmup: %d steps is negative", w.Steps))
	case !(w.StartFactor > 0 && w.StartFactor <= 1):
		panic(fmt.Sprintf("optim: Warmup: start factor %v is not in (0, 1]", w.StartFactor))
	}
	if step >= w.Steps {
		return w.Then.LR(step - w.Steps)
	}
	f := w.StartFactor + (1-w.StartFactor)*float64(step)/float64(w.Steps)
	return w.Then.LR(0) * f
}

// OneCycle is the one-cycle policy (Smith and Topin, 2017) as PyTorch's
// OneCycleLR with its defaults: from MaxLR/DivFactor up to MaxLR over the
// first PctStart of TotalSteps, then down to MaxLR/DivFactor/FinalDivFactor
// at step TotalSteps-1, both along half a cosine. Zero fields take
// PyTorch's defaults: PctStart 0.3, DivFactor 25, FinalDivFactor 1e4.
// Momentum is not cycled (the schedule is about the learning rate only).
type OneCycle struct {
	MaxLR          float64
	TotalSteps     int
	PctStart       float64
	DivFactor      float64
	FinalDivFactor float64
}

// LR returns the learning rate of step; like PyTorch, a step past
// TotalSteps panics.
func (o OneCycle) LR(step int) float64 {
	checkStep("OneCycle", step)
	pct, div, final := o.PctStart, o.DivFactor, o.FinalDivFactor
	if pct == 0 {
		pct = 0.3
	}
	if div == 0 {
		div = 25
	}
	if final == 0 {
		final = 1e4
	}
	switch {
	case o.TotalSteps <= 0:
		panic(fmt.Sprintf("optim: OneCycle: %d total steps is not positive", o.TotalSteps))
	case !(pct > 0 && pct <= 1):
		panic(fmt.Sprintf("optim: OneCycle: PctStart %v is not in (0, 1]", pct))
	case !(div > 0) || !(final > 0):
		panic(fmt.Sprintf("optim: OneCycle: DivFactor %v and FinalDivFactor %v must be positive", div, final))
	case step > o.TotalSteps:
		panic(fmt.Sprintf("optim: OneCycle: step %d is past the %d total steps", step, o.TotalSteps))
	}
	initial := o.MaxLR / div
	phases := []struct{ end, from, to float64 }{
		{pct*float64(o.TotalSteps) - 1, initial, o.MaxLR},
		{float64(o.TotalSteps) - 1, o.MaxLR, initial / final},
	}
	s, start := float64(step), 0.0
	for i, ph := range phases {
		if s <= ph.end || i == len(phases)-1 {
			if ph.end == start { // a phase of one step ends where it starts
				return ph.to
			}
			frac := (s - start) / (ph.end - start)
			return ph.to + (ph.from-ph.to)/2*(math.Cos(math.Pi*frac)+1)
		}
		start = ph.end
	}
	panic("unreachable")
}

// Scheduler sets an optimizer's learning rate from a schedule, like a
// PyTorch scheduler: call Step after each optimizer step.
type Scheduler struct {
	opt   Optimizer
	sched Schedule
	step  int
}

// NewScheduler sets opt's learning rate to s.LR(0) and returns the stepper.
func NewScheduler(opt Optimizer, s Schedule) *Scheduler {
	if opt == nil || s == nil {
		panic("optim: NewScheduler: nil optimizer or schedule")
	}
	opt.SetLR(s.LR(0))
	return &Scheduler{opt: opt, sched: s}
}

// Step advances to the next step and sets its learning rate.
func (s *Scheduler) Step() {
	s.step++
	s.opt.SetLR(s.sched.LR(s.step))
}

// Steps returns how many times Step was called.
func (s *Scheduler) Steps() int { return s.step }
