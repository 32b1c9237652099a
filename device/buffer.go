package device

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gograd/gograd/dtype"
)

var bufferIDs atomic.Uint64

// Buffer is an array of Size elements of DType on a device. Its memory is
// allocated on first use and released when the Buffer is garbage.
type Buffer struct {
	Dev   *Device
	DType dtype.DType
	Size  int

	id      uint64
	once    sync.Once
	mem     Mem
	err     error
	keep    any             // what borrowed memory belongs to, kept alive with the buffer
	cleanup runtime.Cleanup // hands owned memory back when the buffer is garbage
	owned   bool            // mem came from the device (not borrowed)
}

// errReleased is the error of a buffer used after Release.
var errReleased = errors.New("device: buffer used after Release")

// NewBuffer returns an unallocated buffer.
func NewBuffer(dev *Device, dt dtype.DType, size int) *Buffer {
	return &Buffer{Dev: dev, DType: dt, Size: size, id: bufferIDs.Add(1)}
}

// Key identifies the buffer (it implements uop.DeviceBuffer).
func (b *Buffer) Key() string { return "buf" + strconv.FormatUint(b.id, 10) }

// DeviceName is the name of the buffer's device.
func (b *Buffer) DeviceName() string { return b.Dev.Name }

// Len is the number of elements.
func (b *Buffer) Len() int { return b.Size }

// ElemType is the element type.
func (b *Buffer) ElemType() dtype.DType { return b.DType }

// Nbytes is the size in bytes.
func (b *Buffer) Nbytes() int { return b.Size * b.DType.Size() }

func (b *Buffer) String() string {
	return fmt.Sprintf("<buf %d %s %s[%d]>", b.id, b.Dev.Name, b.DType, b.Size)
}

// Mem returns the allocation, allocating it on first use. Memory of dead
// buffers is kept in a per-device cache and handed to the next buffer of the
// same size, so its contents are unspecified until a kernel writes them.
func (b *Buffer) Mem() (Mem, error) {
	b.once.Do(func() {
		n := b.Nbytes()
		b.mem, b.err = b.Dev.alloc(n)
		if b.err != nil {
			return
		}
		allocated.Add(int64(n))
		track(int64(n))
		b.owned = true
		b.cleanup = runtime.AddCleanup(b, b.Dev.release, freed{b.mem, n})
	})
	return b.mem, b.err
}

// Release hands the buffer's memory back to its device now, for the next
// buffer of its size, instead of when the garbage collector finds the
// buffer dead: a schedule's intermediate buffers, dead once it has run. The
// buffer must not be used again (Mem then fails). Borrowed memory (a
// mapped file's) is left alone.
func (b *Buffer) Release() {
	b.once.Do(func() { b.err = errReleased }) // never allocated: nothing to hand back
	if !b.owned {
		return
	}
	b.owned = false
	b.cleanup.Stop()
	b.Dev.release(freed{b.mem, b.Nbytes()})
	b.mem, b.err = nil, errReleased
}

type freed struct {
	mem Mem
	n   int
}

// poolLimit bounds the bytes a device keeps for reuse.
const poolLimit = 1 << 30

func (d *Device) alloc(n int) (Mem, error) {
	d.poolMu.Lock()
	if ms := d.pool[n]; len(ms) > 0 {
		m := ms[len(ms)-1]
		d.pool[n] = ms[:len(ms)-1]
		d.pooled -= n
		d.poolMu.Unlock()
		return m, nil
	}
	d.poolMu.Unlock()
	return d.rt.Alloc(n)
}

// release takes back the memory of a dead buffer: into the cache if it has
// room, else to the runtime.
func (d *Device) release(f freed) {
	allocated.Add(-int64(f.n))
	d.poolMu.Lock()
	if d.pooled+f.n <= poolLimit {
		if d.pool == nil {
			d.pool = map[int][]Mem{}
		}
		d.pool[f.n] = append(d.pool[f.n], f.mem)
		d.pooled += f.n
		d.poolMu.Unlock()
		return
	}
	d.poolMu.Unlock()
	if fr, ok := d.rt.(interface{ Free(Mem) }); ok {
		fr.Free(f.mem)
	}
}

// MustMem is Mem that panics on an allocation failure.
func (b *Buffer) MustMem() Mem {
	m, err := b.Mem()
	if err != nil {
		panic(fmt.Sprintf("device: allocating %d bytes on %s: %v", b.Nbytes(), b.Dev.Name, err))
	}
	return m
}

// CopyIn fills the buffer from host bytes.
func (b *Buffer) CopyIn(src []byte) {
	if len(src) != b.Nbytes() {
		panic(fmt.Sprintf("device: CopyIn of %d bytes into a %d-byte buffer", len(src), b.Nbytes()))
	}
	b.Dev.rt.CopyIn(b.MustMem(), src)
}

// CopyOut reads the buffer into host bytes.
func (b *Buffer) CopyOut(dst []byte) {
	if len(dst) != b.Nbytes() {
		panic(fmt.Sprintf("device: CopyOut of a %d-byte buffer into %d bytes", b.Nbytes(), len(dst)))
	}
	b.Dev.rt.CopyOut(dst, b.MustMem())
}

// HostBytes returns the buffer's memory in place when the device keeps it in
// host memory, or nil.
func (b *Buffer) HostBytes() []byte {
	if h, ok := b.Dev.rt.(HostMemory); ok {
		return h.Bytes(b.MustMem())
	}
	return nil
}

var (
	allocated atomic.Int64 // bytes held by live buffers
	peak      atomic.Int64
)

func track(n int64) {
	cur := allocated.Load()
	for {
		p := peak.Load()
		if cur <= p || peak.CompareAndSwap(p, cur) {
			return
		}
	}
}

// MemUsed returns the bytes held by live buffers and the peak since the last
// ResetPeak. Buffers are released by the garbage collector, so call
// runtime.GC first for an exact figure.
func MemUsed() (current, peakBytes int64) { return allocated.Load(), peak.Load() }

// ResetPeak sets the peak to the current usage.
func ResetPeak() { peak.Store(allocated.Load()) }

// NewBufferOn wraps existing host memory (raw, exactly the buffer's bytes)
// as a buffer of a host device without copying it: for memory-mapped model
// files. keep is held as long as the buffer lives (the mapping, say). Other
// devices copy raw in.
func NewBufferOn(dev *Device, dt dtype.DType, size int, raw []byte, keep any) *Buffer {
	b := NewBuffer(dev, dt, size)
	if len(raw) != b.Nbytes() {
		panic(fmt.Sprintf("device: %d bytes for a buffer of %d", len(raw), b.Nbytes()))
	}
	if _, host := dev.rt.(HostMemory); host {
		b.once.Do(func() { b.mem, b.keep = raw, keep })
		return b
	}
	b.CopyIn(raw)
	return b
}
