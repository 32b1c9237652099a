package gguf

import (
	"errors"
	"fmt"
)

// ErrNoKey is wrapped by the errors of File's typed accessors for a key the
// file lacks, so callers can fall back to a default:
//
//	theta, err := f.Float("llama.rope.freq_base")
//	if errors.Is(err, gguf.ErrNoKey) {
//		theta, err = 10000, nil
//	}
var ErrNoKey = errors.New("no such key")

// Get returns the value of key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.keys[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// lookup returns key's value, or an error that wraps ErrNoKey.
func (f *File) lookup(key string) (Value, error) {
	v, ok := f.Get(key)
	if !ok {
		return v, fmt.Errorf("gguf: %s: key %q: %w", f.Path, key, ErrNoKey)
	}
	return v, nil
}

// get applies a Value accessor to key's value, naming the file and the key
// in its errors.
func get[T any](f *File, key string, read func(Value) (T, error)) (T, error) {
	v, err := f.lookup(key)
	if err != nil {
		var zero T
		return zero, err
	}
	x, err := read(v)
	if err != nil {
		return x, fmt.Errorf("gguf: %s: key %q %w", f.Path, key, err)
	}
	return x, nil
}

// String returns the string value of key.
func (f *File) String(key string) (string, error) { return get(f, key, Value.Str) }

// Uint returns the integer value of key, of any width, as uint64.
func (f *File) Uint(key string) (uint64, error) { return get(f, key, Value.Uint) }

// Int returns the integer value of key, of any width, as int64.
func (f *File) Int(key string) (int64, error) { return get(f, key, Value.Int) }

// Float returns the float32 or float64 value of key as float64.
func (f *File) Float(key string) (float64, error) { return get(f, key, Value.Float) }

// Bool returns the bool value of key.
func (f *File) Bool(key string) (bool, error) { return get(f, key, Value.Bool) }

// Strings returns the array of strings of key.
func (f *File) Strings(key string) ([]string, error) { return get(f, key, Value.Strings) }

// Float32s returns the array of floats of key as float32s.
func (f *File) Float32s(key string) ([]float32, error) { return get(f, key, Value.Float32s) }

// Int32s returns the array of integers of key as int32s.
func (f *File) Int32s(key string) ([]int32, error) { return get(f, key, Value.Int32s) }

// Uints returns the array of integers of key as uint64s.
func (f *File) Uints(key string) ([]uint64, error) { return get(f, key, Value.Uints) }

// Ints returns the array of integers of key as int64s.
func (f *File) Ints(key string) ([]int64, error) { return get(f, key, Value.Ints) }
