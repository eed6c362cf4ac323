"""Video: probing, shot detection, frames, thumbnails, exact shot clips, the demo world."""
