"""The Open Inference Protocol v2 (KServe, Triton, MLServer) over REST, with Rhythmic's learn extension."""
