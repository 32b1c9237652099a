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

// LoadMNIST reads the IDX files of MNIST-format images and labels (gzip or
// not) and returns the images as float32 (N, 1, H, W) scaled to [0, 1]
// (28×28 for MNIST) and the labels as int64 (N), on the default device.
// The two files must hold the same number of samples.
func LoadMNIST(imagesPath, labelsPath string) (images, labels *gograd.Tensor, err error) {
	xi, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, nil, err
	}
	xl, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, nil, err
	}
	if images, err = MNISTImages(xi); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", imagesPath, err)
	}
	if labels, err = MNISTLabels(xl); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", labelsPath, err)
	}
	if xi.Dims[0] != xl.Dims[0] {
		return nil, nil, fmt.Errorf("datasets: %d images in %s but %d labels in %s", xi.Dims[0], imagesPath, xl.Dims[0], labelsPath)
	}
	return images, labels, nil
}
