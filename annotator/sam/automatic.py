class SamAutomaticMaskGenerator:  # placeholder until automatic.py lands
    pass
