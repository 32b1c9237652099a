package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn/datasets"
)

// The files of the 10,000-digit set (shared/data/mnist): the first 8,000
// digits train, the last 2,000 test.
const (
	imagesFile = "mnist10k-images-idx3-ubyte.gz"
	labelsFile = "mnist10k-labels-idx1-ubyte.gz"
	numTrain   = 8000
)

// The shipped subsets, embedded so the example runs anywhere: the first
// 1,000 training digits and all 2,000 test digits of the 10,000-digit set
// (MIT licensed, see testdata/LICENSE). Regenerate them with
// go test ./examples/mnist -run TestShippedData -update.
const (
	shippedTrain = 1000
	trainImages  = "testdata/train1k-images-idx3-ubyte.gz"
	trainLabels  = "testdata/train1k-labels-idx1-ubyte.gz"
	testImages   = "testdata/test2k-images-idx3-ubyte.gz"
	testLabels   = "testdata/test2k-labels-idx1-ubyte.gz"
)

//go:embed testdata/*.gz
var shipped embed.FS

// split is a training and a test set: images (N, 1, 28, 28) float32 in
// [0, 1], labels (N) int64.
type split struct {
	trainX, trainY, testX, testY *gograd.Tensor
	source                       string // what was loaded, for the output
}

// loadData reads the 10,000 digits from dir, or the shipped subsets when
// dir does not hold them.
func loadData(dir string) (*split, error) {
	images, labels := filepath.Join(dir, imagesFile), filepath.Join(dir, labelsFile)
	x, y, err := datasets.LoadMNIST(images, labels)
	switch {
	case err == nil:
		n := x.Dim(0)
		if n <= numTrain {
			return nil, fmt.Errorf("%s holds %d digits, want more than %d", images, n, numTrain)
		}
		return &split{
			trainX: x.Slice(gograd.Sl(0, numTrain)), trainY: y.Slice(gograd.Sl(0, numTrain)),
			testX: x.Slice(gograd.Sl(numTrain, n)), testY: y.Slice(gograd.Sl(numTrain, n)),
			source: fmt.Sprintf("%s: %d training digits, %d test digits", dir, numTrain, n-numTrain),
		}, nil
	case errors.Is(err, fs.ErrNotExist):
		s, err := loadShipped()
		if err != nil {
			return nil, err
		}
		s.source = fmt.Sprintf("%s not found: training on the %d shipped digits (examples/mnist/testdata), "+
			"a subset of the 8,000, so expect a lower accuracy; testing on the %d shipped test digits",
			dir, s.trainX.Dim(0), s.testX.Dim(0))
		return s, nil
	}
	return nil, err
}

// loadShipped reads the embedded subsets.
func loadShipped() (*split, error) {
	s := &split{}
	var err error
	if s.trainX, s.trainY, err = loadEmbedded(trainImages, trainLabels); err != nil {
		return nil, err
	}
	if s.testX, s.testY, err = loadEmbedded(testImages, testLabels); err != nil {
		return nil, err
	}
	return s, nil
}

// loadEmbedded reads a pair of embedded IDX files.
func loadEmbedded(images, labels string) (x, y *gograd.Tensor, err error) {
	read := func(name string) (*datasets.IDX, error) {
		b, err := shipped.ReadFile(name)
		if err != nil {
			return nil, err
		}
		idx, err := datasets.ReadIDX(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return idx, nil
	}
	xi, err := read(images)
	if err != nil {
		return nil, nil, err
	}
	yi, err := read(labels)
	if err != nil {
		return nil, nil, err
	}
	if x, y, err = datasets.MNIST(xi, yi); err != nil {
		return nil, nil, fmt.Errorf("%s, %s: %w", images, labels, err)
	}
	return x, y, nil
}
