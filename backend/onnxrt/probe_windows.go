//go:build onnxruntime && windows

package onnxrt

// probeLibrary is a no-op on Windows; loading errors come from the binding.
func probeLibrary(string) error { return nil }
