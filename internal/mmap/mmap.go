// Package mmap maps files read-only into memory, so tensor data can be used in
// place without copying. Where mapping is unavailable the file is read into
// memory instead, behind the same API.
package mmap

import (
	"fmt"
	"os"
)

// File is a read-only view of a whole file.
type File struct {
	data   []byte
	mapped bool
}

// Open maps the file at path. An empty file yields an empty view.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size == 0 {
		return &File{}, nil
	}
	if int64(int(size)) != size || size < 0 {
		return nil, fmt.Errorf("%s: file too large to map (%d bytes)", path, size)
	}
	if data, err := mapFile(f, int(size)); err == nil {
		return &File{data: data, mapped: true}, nil
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{data: data}, nil
}

// Bytes returns the file's contents. The slice is read-only and valid until Close.
func (f *File) Bytes() []byte { return f.data }

// Len returns the file size in bytes.
func (f *File) Len() int { return len(f.data) }

// Mapped reports whether the view is a memory map (false: a plain read).
func (f *File) Mapped() bool { return f.mapped }

// Close unmaps the file. The slice from Bytes must not be used afterwards.
func (f *File) Close() error {
	if f == nil || f.data == nil {
		return nil
	}
	data, mapped := f.data, f.mapped
	f.data = nil
	if mapped {
		return unmap(data)
	}
	return nil
}
