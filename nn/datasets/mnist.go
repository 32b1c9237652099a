package datasets

import (
	"fmt"

	"github.com/gograd/gograd"
)

// MNISTImages turns an IDX file of N images of H×W bytes (the MNIST image
// format) into a float32 tensor (N, 1, H, W) of the pixels divided by 255,
// as torchvision's ToTensor scales them.
func MNISTImages(x *IDX) (*gograd.Tensor, error) {
	if x.Type != IDXUint8 || len(x.Dims) != 3 {
		return nil, fmt.Errorf("idx: images must be %s with 3 dimensions (N, H, W), not %s %v", IDXUint8, x.Type, x.Dims)
	}
	px := make([]float32, len(x.Data))
	for i, b := range x.Data {
		px[i] = float32(b) / 255
	}
	return gograd.FromSlice(px, x.Dims[0], 1, x.Dims[1], x.Dims[2]), nil
}

// MNISTLabels turns an IDX file of N label bytes into an int64 tensor (N).
func MNISTLabels(x *IDX) (*gograd.Tensor, error) {
	if x.Type != IDXUint8 || len(x.Dims) != 1 {
		return nil, fmt.Errorf("idx: labels must be %s with 1 dimension (N), not %s %v", IDXUint8, x.Type, x.Dims)
	}
	ls := make([]int64, len(x.Data))
	for i, b := range x.Data {
		ls[i] = int64(b)
	}
	return gograd.FromSlice(ls), nil
}

// MNIST turns a pair of IDX files, MNIST-format images and their labels,
// into the images as float32 (N, 1, H, W) scaled to [0, 1] (28×28 for
// MNIST) and the labels as int64 (N), on the default device. The two must
// hold the same number of samples.
func MNIST(images, labels *IDX) (x, y *gograd.Tensor, err error) {
	if x, err = MNISTImages(images); err != nil {
		return nil, nil, err
	}
	if y, err = MNISTLabels(labels); err != nil {
		return nil, nil, err
	}
	if n, m := x.Dim(0), y.Dim(0); n != m {
		return nil, nil, fmt.Errorf("datasets: %d images but %d labels", n, m)
	}
	return x, y, nil
}

// LoadMNIST reads the IDX files of MNIST-format images and labels (gzip or
// not) and returns them as MNIST does; errors name the files.
func LoadMNIST(imagesPath, labelsPath string) (images, labels *gograd.Tensor, err error) {
	xi, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, nil, err
	}
	xl, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, nil, err
	}
	if images, labels, err = MNIST(xi, xl); err != nil {
		return nil, nil, fmt.Errorf("%s, %s: %w", imagesPath, labelsPath, err)
	}
	return images, labels, nil
}
