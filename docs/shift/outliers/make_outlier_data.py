#!/usr/bin/env python3
"""Training data with synthetic outliers for outlier exposure (Hendrycks et al., ICLR 2019), built
from Fashion-MNIST's training images alone: no shifted test image is used or imitated.

    python3 docs/shift/outliers/make_outlier_data.py FASHION_MNIST_DIR OUT_DIR [--outliers N] [--seed S]

Writes into OUT_DIR (IDX, gzip):
  clean-images-idx3-ubyte.gz / clean-labels-idx1-ubyte.gz   the training part (90 % of every class)
  oe-images-idx3-ubyte.gz    / oe-labels-idx1-ubyte.gz      the same plus N outlier images, each
                                                             once with every one of the 10 labels
  valid-images-idx3-ubyte.gz / valid-labels-idx1-ubyte.gz   the held-out 10 % (clean only)

An outlier is a training image with its structure destroyed: half have their pixels permuted at
random, half have their 4 x 4 tiles of 7 x 7 pixels shuffled. Giving an outlier every label once
makes its share of the training loss the cross-entropy to the uniform distribution, which is
outlier exposure's loss, with no change to the estimators: the NLL of the SBN's predictive, summed
over the ten labels, is -sum_k log p_k.
"""
import argparse, gzip, os, random, struct

ROWS = COLS = 28
PIXELS = ROWS * COLS
TILE = 7


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    magic, n = struct.unpack('>II', data[:8])
    if magic == 2051:
        rows, cols = struct.unpack('>II', data[8:16])
        assert (rows, cols) == (ROWS, COLS), f'{path}: {rows} x {cols} images, expected 28 x 28'
        return [data[16 + i * PIXELS:16 + (i + 1) * PIXELS] for i in range(n)]
    assert magic == 2049, f'{path}: not an IDX images or labels file (magic {magic})'
    return list(data[8:8 + n])


def write_atomic(path, payload):
    tmp = path + '.tmp'
    with gzip.open(tmp, 'wb') as f:
        f.write(payload)
    os.replace(tmp, path)


def write_pair(out_dir, name, images, labels):
    write_atomic(os.path.join(out_dir, f'{name}-images-idx3-ubyte.gz'),
                 struct.pack('>IIII', 2051, len(images), ROWS, COLS) + b''.join(images))
    write_atomic(os.path.join(out_dir, f'{name}-labels-idx1-ubyte.gz'),
                 struct.pack('>II', 2049, len(labels)) + bytes(labels))


def permuted(image, rng):
    order = list(range(PIXELS))
    rng.shuffle(order)
    return bytes(image[i] for i in order)


def tiles_shuffled(image, rng):
    per_side = ROWS // TILE
    tiles = [(r, c) for r in range(per_side) for c in range(per_side)]
    source = tiles[:]
    rng.shuffle(source)
    out = bytearray(PIXELS)
    for (r, c), (sr, sc) in zip(tiles, source):
        for y in range(TILE):
            dst = (r * TILE + y) * COLS + c * TILE
            src = (sr * TILE + y) * COLS + sc * TILE
            out[dst:dst + TILE] = image[src:src + TILE]
    return bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('fashion_dir')
    ap.add_argument('out_dir')
    ap.add_argument('--outliers', type=int, default=2000)
    ap.add_argument('--seed', type=int, default=2026)
    args = ap.parse_args()
    images = read_idx(os.path.join(args.fashion_dir, 'train-images-idx3-ubyte.gz'))
    labels = read_idx(os.path.join(args.fashion_dir, 'train-labels-idx1-ubyte.gz'))
    assert len(images) == len(labels), 'images and labels differ in number'
    rng = random.Random(args.seed)
    by_class = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    train, valid = [], []
    for y in sorted(by_class):
        members = by_class[y]
        rng.shuffle(members)
        k = round(0.1 * len(members))
        valid += members[:k]
        train += members[k:]
    train.sort()
    valid.sort()
    classes = sorted(by_class)
    sources = rng.sample(train, args.outliers)
    outliers = [permuted(images[i], rng) if j % 2 == 0 else tiles_shuffled(images[i], rng) for j, i in enumerate(sources)]
    os.makedirs(args.out_dir, exist_ok=True)
    clean_images, clean_labels = [images[i] for i in train], [labels[i] for i in train]
    write_pair(args.out_dir, 'clean', clean_images, clean_labels)
    write_pair(args.out_dir, 'oe', clean_images + [o for o in outliers for _ in classes],
               clean_labels + [y for _ in outliers for y in classes])
    write_pair(args.out_dir, 'valid', [images[i] for i in valid], [labels[i] for i in valid])
    print(f'{len(train)} training images, {len(valid)} held out, {len(outliers)} outliers x {len(classes)} labels → {args.out_dir}')


if __name__ == '__main__':
    main()
