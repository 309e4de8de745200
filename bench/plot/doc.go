// Package plot draws line charts as SVG with no dependency beyond the
// standard library: bus bandwidth against message size for `kizuna bench
// -plot`, and Kizuna-to-peer ratios for the side-by-side comparison in
// bench/cmd/compare.
//
// A Chart is plain data; WriteSVG renders it. The x axis is either linear
// or base-2 logarithmic (sizes that double each row fall on evenly spaced
// ticks, labelled 8B, 64K, 1M, ...), the y axis is linear from zero, and
// every series gets its own colour, marker and legend entry. Rendering is
// deterministic: the same Chart always gives the same bytes.
//
// Chart values are not modified by WriteSVG and are safe to render from
// several goroutines at once.
package plot
