package cellm

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/models/idefics3"
)

// ErrClosed is returned by Generate, Tokens and ImageFeatures on a closed Model.
var ErrClosed = errors.New("cellm: the model is closed")

// ErrModelFault is wrapped by the error of a call that faulted reading the
// memory-mapped model file, which happens when the file is truncated or
// replaced while it is open. The Model should then be closed.
var ErrModelFault = errors.New("memory fault reading the memory-mapped model file")

// lifecycle counts the calls using a Model's weights, so that Close never
// unmaps memory a generation still reads.
type lifecycle struct {
	mu     sync.Mutex
	closed bool
	active sync.WaitGroup // calls between begin and end
}

// begin registers a call using the weights; it fails once Close has begun.
func (l *lifecycle) begin() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.active.Add(1)
	return nil
}

func (l *lifecycle) end() { l.active.Done() }

// close refuses new calls and waits for the running ones. It reports
// whether this was the first close.
func (l *lifecycle) close() bool {
	l.mu.Lock()
	first := !l.closed
	l.closed = true
	l.mu.Unlock()
	if first {
		l.active.Wait()
	}
	return first
}

// use runs f as a call on the weights: after Close it returns ErrClosed,
// Close waits for it, and a memory fault reading the mapped file (SIGBUS
// after a truncation, here or in a kernel worker) becomes an error wrapping
// ErrModelFault that names the file, instead of a crash.
func (m *Model) use(f func() error) (err error) {
	if err := m.life.begin(); err != nil {
		return err
	}
	defer m.life.end()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			fault, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: %w at address %#x (was the file truncated or replaced while open?)", m.path, ErrModelFault, fault.Addr())
		}
	}()
	return f()
}

// Generate runs one generation. onToken (may be nil) receives each token as
// it is generated; returning false stops, and onToken is not called again
// (Result.Text still holds all the text generated). The Model may serve
// several Generate calls at once; after Close it returns ErrClosed.
func (m *Model) Generate(ctx context.Context, req Request, onToken func(Token) bool) (res *Result, err error) {
	err = m.use(func() error {
		res, err = m.generate(ctx, req, onToken)
		return err
	})
	return res, err
}

// ImageFeatures runs the vision encoder and connector on preprocessed
// images: one row of the text hidden size per <image> token, tile after tile.
func (m *Model) ImageFeatures(b *imageproc.Batch) (feats []float32, err error) {
	err = m.use(func() error {
		feats, err = m.imageFeatures(b, nil)
		return err
	})
	return feats, err
}

// ImageFeaturesProgress is ImageFeatures calling progress (if not nil) after
// each encoded tile with the tiles done and the total.
func (m *Model) ImageFeaturesProgress(b *imageproc.Batch, progress func(done, total int)) (feats []float32, err error) {
	err = m.use(func() error {
		feats, err = m.imageFeatures(b, &idefics3.Timing{OnTile: progress})
		return err
	})
	return feats, err
}
