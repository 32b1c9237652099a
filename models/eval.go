package models

import (
	"errors"
	"math"
)

// Perplexity is exp of the mean negative log-likelihood the model gives
// each token of text after the ones before it. The tokens run in windows of
// at most window tokens (each starting afresh, with bos first, which is not
// scored); every other token of a window is scored. It returns the
// perplexity and the number of tokens scored.
func (m *Llama) Perplexity(tokens []int, bos, window int) (float64, int, error) {
	if window < 2 {
		return 0, 0, errors.New("models: Perplexity: windows of fewer than 2 tokens score nothing")
	}
	s := m.NewSession(window)
	nll, n := 0.0, 0
	for start := 0; start < len(tokens); start += window - 1 {
		chunk := append([]int{bos}, tokens[start:min(start+window-1, len(tokens))]...)
		s.Reset()
		logits, err := s.Scores(chunk)
		if err != nil {
			return 0, 0, err
		}
		v := logits.Float32s()
		V := m.Config.Vocab
		for i := 0; i+1 < len(chunk); i++ {
			nll -= logSoftmaxAt(v[i*V:(i+1)*V], chunk[i+1])
			n++
		}
	}
	if n == 0 {
		return 0, 0, errors.New("models: Perplexity: no tokens to score")
	}
	return math.Exp(nll / float64(n)), n, nil
}

// logSoftmaxAt is log softmax(row)[i], in float64.
func logSoftmaxAt(row []float32, i int) float64 {
	mx := math.Inf(-1)
	for _, x := range row {
		mx = math.Max(mx, float64(x))
	}
	sum := 0.0
	for _, x := range row {
		sum += math.Exp(float64(x) - mx)
	}
	return float64(row[i]) - mx - math.Log(sum)
}
