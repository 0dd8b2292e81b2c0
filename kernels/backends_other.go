//go:build (!amd64 && !arm64) || purego

package kernels

// registerArch adds nothing: only the generic kernels exist on this build.
func registerArch() {}
