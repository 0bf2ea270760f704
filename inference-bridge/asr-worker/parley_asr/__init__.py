"""Parley speech-recognition worker (parley.asr.v1.SpeechRecognizer): pocketsphinx on CPU, streaming Whisper on GPU."""
