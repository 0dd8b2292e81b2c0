package main

// demoGenerate is filled in once text generation lands.
func demoGenerate(model, prompt string, gen int) error { return nil }
