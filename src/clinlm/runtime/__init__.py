"""How models run: loading checkpoints and tokenizers, device and precision choice, threads,
fused attention, and the ONNX Runtime backend. Used by every task; imports only the core."""
