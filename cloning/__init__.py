"""Voice cloning: a clip of someone speaking -> a voice prompt that core/ uses like any preset.

    from cloning import CloneOptions, VoiceCloner
    result = VoiceCloner(engine).clone("me.wav", "me", CloneOptions(language="en"))

Modules: audio (read, prepare, where to cut), hubert (+ fairseq: HuBERT features), quantizer
(features -> semantic tokens; the registry of published quantizers), saving (all-or-nothing
library writes), clone (VoiceCloner), __main__ (the command line).
"""

from .clone import CloneResult, VoiceCloner
from .options import CloneOptions
from .quantizer import QUANTIZERS, QuantizerSpec

__all__ = ["QUANTIZERS", "CloneOptions", "CloneResult", "QuantizerSpec", "VoiceCloner"]
