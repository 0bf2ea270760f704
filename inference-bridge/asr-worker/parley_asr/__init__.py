"""Parley CPU speech-recognition worker (parley.asr.v1.SpeechRecognizer)."""
