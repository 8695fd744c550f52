"""Bark's token spaces and fixed rates (suno-ai/bark `generation.py`).

Every stage and every file format agrees on these numbers; nothing else in the project
hard-codes them.
"""

SAMPLE_RATE = 24_000  # output audio, mono float32
CHARS_PER_SECOND = 14  # Bark speaks about this many characters of text a second (estimates, checks)

# Semantic tokens (text model output).
SEMANTIC_RATE_HZ = 49.9
SEMANTIC_VOCAB_SIZE = 10_000
SEMANTIC_PAD_TOKEN = 10_000  # also the end-of-speech logit of the text model
TEXT_ENCODING_OFFSET = 10_048  # text token = BERT id + offset
TEXT_PAD_TOKEN = 129_595
SEMANTIC_INFER_TOKEN = 129_599
TEXT_CONTEXT = 256  # text tokens per generation (and semantic history tokens)
MAX_SEMANTIC_TOKENS = 768

# Codec tokens.
CODEBOOK_SIZE = 1024
N_COARSE_CODEBOOKS = 2
N_FINE_CODEBOOKS = 8
COARSE_RATE_HZ = 75
SAMPLES_PER_FRAME = SAMPLE_RATE // COARSE_RATE_HZ  # 320
COARSE_SEMANTIC_PAD_TOKEN = 12_048
COARSE_INFER_TOKEN = 12_050
SEMANTIC_TO_COARSE_RATIO = COARSE_RATE_HZ / SEMANTIC_RATE_HZ * N_COARSE_CODEBOOKS  # 3.006...
FINE_UNKNOWN_CODE = CODEBOOK_SIZE  # "to predict" in the fine model's input

BLOCK_SIZE = 1024  # context of every GPT stage
FINE_WINDOW = 1024
FINE_HOP = 512
