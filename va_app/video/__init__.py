"""Video: probing, shot detection, frames, thumbnails, browser previews, the demo world."""
