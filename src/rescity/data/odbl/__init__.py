"""Power backbone of Zhejiang derived from OpenStreetMap, GridKit and WRI data (ODbL 1.0; see README.md)."""
