nf_out_10: netfilter output 10 section netfilter (1023 insns)
; prologue: parse headers through a dynptr into the flow record
   0: (bf) r6 = r1
   1: (7a) *(u64 *)(r10 -96) = 0
   2: (7a) *(u64 *)(r10 -88) = 0
   3: (7a) *(u64 *)(r10 -80) = 0
   4: (7a) *(u64 *)(r10 -72) = 0
   5: (7a) *(u64 *)(r10 -64) = 0
   6: (7a) *(u64 *)(r10 -56) = 0
   7: (7a) *(u64 *)(r10 -48) = 0
   8: (7a) *(u64 *)(r10 -40) = 0
   9: (7a) *(u64 *)(r10 -32) = 0
  10: (7a) *(u64 *)(r10 -24) = 0
  11: (7a) *(u64 *)(r10 -16) = 0
  12: (7a) *(u64 *)(r10 -8) = 0
  13: (79) r1 = *(u64 *)(r6 +8)
  14: (b7) r2 = 0
  15: (bf) r3 = r10
  16: (07) r3 += -328
; bpf_dynptr_from_skb
  17: (85) call kfunc#0
  18: (55) if r0 != 0x0 goto pc+446
  19: (bf) r1 = r10
  20: (07) r1 += -328
; bpf_dynptr_size
  21: (85) call kfunc#0
  22: (63) *(u32 *)(r10 -28) = r0
  23: (bf) r1 = r10
  24: (07) r1 += -328
  25: (b7) r2 = 0
  26: (bf) r3 = r10
  27: (07) r3 += -368
  28: (b7) r4 = 20
; bpf_dynptr_slice
  29: (85) call kfunc#0
  30: (15) if r0 == 0x0 goto pc+434
  31: (bf) r7 = r0
  32: (71) r1 = *(u8 *)(r7 +0)
  33: (77) r1 >>= 4
  34: (15) if r1 == 0x4 goto pc+2
  35: (55) if r1 != 0x6 goto pc+429
  36: (05) goto pc+21
  37: (71) r2 = *(u8 *)(r7 +0)
  38: (57) r2 &= 15
  39: (a5) if r2 < 0x5 goto pc+425
  40: (61) r1 = *(u32 *)(r7 +12)
  41: (63) *(u32 *)(r10 -92) = r1
  42: (61) r1 = *(u32 *)(r7 +16)
  43: (63) *(u32 *)(r10 -84) = r1
  44: (71) r1 = *(u8 *)(r7 +9)
  45: (73) *(u8 *)(r10 -39) = r1
  46: (72) *(u8 *)(r10 -40) = 4
  47: (69) r1 = *(u16 *)(r7 +6)
  48: (bf) r3 = r1
  49: (57) r3 &= 65343
  50: (07) r3 += 65535
  51: (77) r3 >>= 16
  52: (73) *(u8 *)(r10 -29) = r3
  53: (57) r1 &= 65311
  54: (55) if r1 != 0x0 goto pc+410
  55: (67) r2 <<= 2
  56: (bf) r9 = r2
  57: (05) goto pc+359
  58: (bf) r1 = r10
  59: (07) r1 += -328
  60: (b7) r2 = 0
  61: (bf) r3 = r10
  62: (07) r3 += -368
  63: (b7) r4 = 40
; bpf_dynptr_slice
  64: (85) call kfunc#0
  65: (15) if r0 == 0x0 goto pc+399
  66: (bf) r7 = r0
  67: (61) r1 = *(u32 *)(r7 +8)
  68: (63) *(u32 *)(r10 -76) = r1
  69: (61) r1 = *(u32 *)(r7 +12)
  70: (63) *(u32 *)(r10 -72) = r1
  71: (61) r1 = *(u32 *)(r7 +16)
  72: (63) *(u32 *)(r10 -68) = r1
  73: (61) r1 = *(u32 *)(r7 +20)
  74: (63) *(u32 *)(r10 -64) = r1
  75: (61) r1 = *(u32 *)(r7 +24)
  76: (63) *(u32 *)(r10 -56) = r1
  77: (61) r1 = *(u32 *)(r7 +28)
  78: (63) *(u32 *)(r10 -52) = r1
  79: (61) r1 = *(u32 *)(r7 +32)
  80: (63) *(u32 *)(r10 -48) = r1
  81: (61) r1 = *(u32 *)(r7 +36)
  82: (63) *(u32 *)(r10 -44) = r1
  83: (71) r1 = *(u8 *)(r7 +6)
  84: (73) *(u8 *)(r10 -39) = r1
  85: (72) *(u8 *)(r10 -40) = 6
  86: (b7) r9 = 40
  87: (15) if r1 == 0x0 goto pc+35
  88: (15) if r1 == 0x2b goto pc+34
  89: (15) if r1 == 0x3c goto pc+33
  90: (15) if r1 == 0x2c goto pc+15
  91: (55) if r1 != 0x33 goto pc+325
  92: (05) goto pc+0
  93: (bf) r1 = r10
  94: (07) r1 += -328
  95: (bf) r2 = r9
  96: (bf) r3 = r10
  97: (07) r3 += -400
  98: (b7) r4 = 8
; bpf_dynptr_slice
  99: (85) call kfunc#0
 100: (15) if r0 == 0x0 goto pc+364
 101: (bf) r7 = r0
 102: (71) r2 = *(u8 *)(r7 +1)
 103: (07) r2 += 2
 104: (67) r2 <<= 2
 105: (05) goto pc+29
 106: (bf) r1 = r10
 107: (07) r1 += -328
 108: (bf) r2 = r9
 109: (bf) r3 = r10
 110: (07) r3 += -400
 111: (b7) r4 = 8
; bpf_dynptr_slice
 112: (85) call kfunc#0
 113: (15) if r0 == 0x0 goto pc+351
 114: (bf) r7 = r0
 115: (72) *(u8 *)(r10 -29) = 1
 116: (71) r1 = *(u8 *)(r7 +0)
 117: (73) *(u8 *)(r10 -39) = r1
 118: (69) r2 = *(u16 *)(r7 +2)
 119: (57) r2 &= 63743
 120: (55) if r2 != 0x0 goto pc+344
 121: (b7) r2 = 8
 122: (05) goto pc+12
 123: (bf) r1 = r10
 124: (07) r1 += -328
 125: (bf) r2 = r9
 126: (bf) r3 = r10
 127: (07) r3 += -400
 128: (b7) r4 = 8
; bpf_dynptr_slice
 129: (85) call kfunc#0
 130: (15) if r0 == 0x0 goto pc+334
 131: (bf) r7 = r0
 132: (71) r2 = *(u8 *)(r7 +1)
 133: (07) r2 += 1
 134: (67) r2 <<= 3
 135: (71) r1 = *(u8 *)(r7 +0)
 136: (73) *(u8 *)(r10 -39) = r1
 137: (0f) r9 += r2
 138: (6b) *(u16 *)(r10 -36) = r9
 139: (69) r9 = *(u16 *)(r10 -36)
 140: (6a) *(u16 *)(r10 -36) = 0
 141: (15) if r1 == 0x0 goto pc+35
 142: (15) if r1 == 0x2b goto pc+34
 143: (15) if r1 == 0x3c goto pc+33
 144: (15) if r1 == 0x2c goto pc+15
 145: (55) if r1 != 0x33 goto pc+271
 146: (05) goto pc+0
 147: (bf) r1 = r10
 148: (07) r1 += -328
 149: (bf) r2 = r9
 150: (bf) r3 = r10
 151: (07) r3 += -400
 152: (b7) r4 = 8
; bpf_dynptr_slice
 153: (85) call kfunc#0
 154: (15) if r0 == 0x0 goto pc+310
 155: (bf) r7 = r0
 156: (71) r2 = *(u8 *)(r7 +1)
 157: (07) r2 += 2
 158: (67) r2 <<= 2
 159: (05) goto pc+29
 160: (bf) r1 = r10
 161: (07) r1 += -328
 162: (bf) r2 = r9
 163: (bf) r3 = r10
 164: (07) r3 += -400
 165: (b7) r4 = 8
; bpf_dynptr_slice
 166: (85) call kfunc#0
 167: (15) if r0 == 0x0 goto pc+297
 168: (bf) r7 = r0
 169: (72) *(u8 *)(r10 -29) = 1
 170: (71) r1 = *(u8 *)(r7 +0)
 171: (73) *(u8 *)(r10 -39) = r1
 172: (69) r2 = *(u16 *)(r7 +2)
 173: (57) r2 &= 63743
 174: (55) if r2 != 0x0 goto pc+290
 175: (b7) r2 = 8
 176: (05) goto pc+12
 177: (bf) r1 = r10
 178: (07) r1 += -328
 179: (bf) r2 = r9
 180: (bf) r3 = r10
 181: (07) r3 += -400
 182: (b7) r4 = 8
; bpf_dynptr_slice
 183: (85) call kfunc#0
 184: (15) if r0 == 0x0 goto pc+280
 185: (bf) r7 = r0
 186: (71) r2 = *(u8 *)(r7 +1)
 187: (07) r2 += 1
 188: (67) r2 <<= 3
 189: (71) r1 = *(u8 *)(r7 +0)
 190: (73) *(u8 *)(r10 -39) = r1
 191: (0f) r9 += r2
 192: (6b) *(u16 *)(r10 -36) = r9
 193: (69) r9 = *(u16 *)(r10 -36)
 194: (6a) *(u16 *)(r10 -36) = 0
 195: (15) if r1 == 0x0 goto pc+35
 196: (15) if r1 == 0x2b goto pc+34
 197: (15) if r1 == 0x3c goto pc+33
 198: (15) if r1 == 0x2c goto pc+15
 199: (55) if r1 != 0x33 goto pc+217
 200: (05) goto pc+0
 201: (bf) r1 = r10
 202: (07) r1 += -328
 203: (bf) r2 = r9
 204: (bf) r3 = r10
 205: (07) r3 += -400
 206: (b7) r4 = 8
; bpf_dynptr_slice
 207: (85) call kfunc#0
 208: (15) if r0 == 0x0 goto pc+256
 209: (bf) r7 = r0
 210: (71) r2 = *(u8 *)(r7 +1)
 211: (07) r2 += 2
 212: (67) r2 <<= 2
 213: (05) goto pc+29
 214: (bf) r1 = r10
 215: (07) r1 += -328
 216: (bf) r2 = r9
 217: (bf) r3 = r10
 218: (07) r3 += -400
 219: (b7) r4 = 8
; bpf_dynptr_slice
 220: (85) call kfunc#0
 221: (15) if r0 == 0x0 goto pc+243
 222: (bf) r7 = r0
 223: (72) *(u8 *)(r10 -29) = 1
 224: (71) r1 = *(u8 *)(r7 +0)
 225: (73) *(u8 *)(r10 -39) = r1
 226: (69) r2 = *(u16 *)(r7 +2)
 227: (57) r2 &= 63743
 228: (55) if r2 != 0x0 goto pc+236
 229: (b7) r2 = 8
 230: (05) goto pc+12
 231: (bf) r1 = r10
 232: (07) r1 += -328
 233: (bf) r2 = r9
 234: (bf) r3 = r10
 235: (07) r3 += -400
 236: (b7) r4 = 8
; bpf_dynptr_slice
 237: (85) call kfunc#0
 238: (15) if r0 == 0x0 goto pc+226
 239: (bf) r7 = r0
 240: (71) r2 = *(u8 *)(r7 +1)
 241: (07) r2 += 1
 242: (67) r2 <<= 3
 243: (71) r1 = *(u8 *)(r7 +0)
 244: (73) *(u8 *)(r10 -39) = r1
 245: (0f) r9 += r2
 246: (6b) *(u16 *)(r10 -36) = r9
 247: (69) r9 = *(u16 *)(r10 -36)
 248: (6a) *(u16 *)(r10 -36) = 0
 249: (15) if r1 == 0x0 goto pc+35
 250: (15) if r1 == 0x2b goto pc+34
 251: (15) if r1 == 0x3c goto pc+33
 252: (15) if r1 == 0x2c goto pc+15
 253: (55) if r1 != 0x33 goto pc+163
 254: (05) goto pc+0
 255: (bf) r1 = r10
 256: (07) r1 += -328
 257: (bf) r2 = r9
 258: (bf) r3 = r10
 259: (07) r3 += -400
 260: (b7) r4 = 8
; bpf_dynptr_slice
 261: (85) call kfunc#0
 262: (15) if r0 == 0x0 goto pc+202
 263: (bf) r7 = r0
 264: (71) r2 = *(u8 *)(r7 +1)
 265: (07) r2 += 2
 266: (67) r2 <<= 2
 267: (05) goto pc+29
 268: (bf) r1 = r10
 269: (07) r1 += -328
 270: (bf) r2 = r9
 271: (bf) r3 = r10
 272: (07) r3 += -400
 273: (b7) r4 = 8
; bpf_dynptr_slice
 274: (85) call kfunc#0
 275: (15) if r0 == 0x0 goto pc+189
 276: (bf) r7 = r0
 277: (72) *(u8 *)(r10 -29) = 1
 278: (71) r1 = *(u8 *)(r7 +0)
 279: (73) *(u8 *)(r10 -39) = r1
 280: (69) r2 = *(u16 *)(r7 +2)
 281: (57) r2 &= 63743
 282: (55) if r2 != 0x0 goto pc+182
 283: (b7) r2 = 8
 284: (05) goto pc+12
 285: (bf) r1 = r10
 286: (07) r1 += -328
 287: (bf) r2 = r9
 288: (bf) r3 = r10
 289: (07) r3 += -400
 290: (b7) r4 = 8
; bpf_dynptr_slice
 291: (85) call kfunc#0
 292: (15) if r0 == 0x0 goto pc+172
 293: (bf) r7 = r0
 294: (71) r2 = *(u8 *)(r7 +1)
 295: (07) r2 += 1
 296: (67) r2 <<= 3
 297: (71) r1 = *(u8 *)(r7 +0)
 298: (73) *(u8 *)(r10 -39) = r1
 299: (0f) r9 += r2
 300: (6b) *(u16 *)(r10 -36) = r9
 301: (69) r9 = *(u16 *)(r10 -36)
 302: (6a) *(u16 *)(r10 -36) = 0
 303: (15) if r1 == 0x0 goto pc+35
 304: (15) if r1 == 0x2b goto pc+34
 305: (15) if r1 == 0x3c goto pc+33
 306: (15) if r1 == 0x2c goto pc+15
 307: (55) if r1 != 0x33 goto pc+109
 308: (05) goto pc+0
 309: (bf) r1 = r10
 310: (07) r1 += -328
 311: (bf) r2 = r9
 312: (bf) r3 = r10
 313: (07) r3 += -400
 314: (b7) r4 = 8
; bpf_dynptr_slice
 315: (85) call kfunc#0
 316: (15) if r0 == 0x0 goto pc+148
 317: (bf) r7 = r0
 318: (71) r2 = *(u8 *)(r7 +1)
 319: (07) r2 += 2
 320: (67) r2 <<= 2
 321: (05) goto pc+29
 322: (bf) r1 = r10
 323: (07) r1 += -328
 324: (bf) r2 = r9
 325: (bf) r3 = r10
 326: (07) r3 += -400
 327: (b7) r4 = 8
; bpf_dynptr_slice
 328: (85) call kfunc#0
 329: (15) if r0 == 0x0 goto pc+135
 330: (bf) r7 = r0
 331: (72) *(u8 *)(r10 -29) = 1
 332: (71) r1 = *(u8 *)(r7 +0)
 333: (73) *(u8 *)(r10 -39) = r1
 334: (69) r2 = *(u16 *)(r7 +2)
 335: (57) r2 &= 63743
 336: (55) if r2 != 0x0 goto pc+128
 337: (b7) r2 = 8
 338: (05) goto pc+12
 339: (bf) r1 = r10
 340: (07) r1 += -328
 341: (bf) r2 = r9
 342: (bf) r3 = r10
 343: (07) r3 += -400
 344: (b7) r4 = 8
; bpf_dynptr_slice
 345: (85) call kfunc#0
 346: (15) if r0 == 0x0 goto pc+118
 347: (bf) r7 = r0
 348: (71) r2 = *(u8 *)(r7 +1)
 349: (07) r2 += 1
 350: (67) r2 <<= 3
 351: (71) r1 = *(u8 *)(r7 +0)
 352: (73) *(u8 *)(r10 -39) = r1
 353: (0f) r9 += r2
 354: (6b) *(u16 *)(r10 -36) = r9
 355: (69) r9 = *(u16 *)(r10 -36)
 356: (6a) *(u16 *)(r10 -36) = 0
 357: (15) if r1 == 0x0 goto pc+35
 358: (15) if r1 == 0x2b goto pc+34
 359: (15) if r1 == 0x3c goto pc+33
 360: (15) if r1 == 0x2c goto pc+15
 361: (55) if r1 != 0x33 goto pc+55
 362: (05) goto pc+0
 363: (bf) r1 = r10
 364: (07) r1 += -328
 365: (bf) r2 = r9
 366: (bf) r3 = r10
 367: (07) r3 += -400
 368: (b7) r4 = 8
; bpf_dynptr_slice
 369: (85) call kfunc#0
 370: (15) if r0 == 0x0 goto pc+94
 371: (bf) r7 = r0
 372: (71) r2 = *(u8 *)(r7 +1)
 373: (07) r2 += 2
 374: (67) r2 <<= 2
 375: (05) goto pc+29
 376: (bf) r1 = r10
 377: (07) r1 += -328
 378: (bf) r2 = r9
 379: (bf) r3 = r10
 380: (07) r3 += -400
 381: (b7) r4 = 8
; bpf_dynptr_slice
 382: (85) call kfunc#0
 383: (15) if r0 == 0x0 goto pc+81
 384: (bf) r7 = r0
 385: (72) *(u8 *)(r10 -29) = 1
 386: (71) r1 = *(u8 *)(r7 +0)
 387: (73) *(u8 *)(r10 -39) = r1
 388: (69) r2 = *(u16 *)(r7 +2)
 389: (57) r2 &= 63743
 390: (55) if r2 != 0x0 goto pc+74
 391: (b7) r2 = 8
 392: (05) goto pc+12
 393: (bf) r1 = r10
 394: (07) r1 += -328
 395: (bf) r2 = r9
 396: (bf) r3 = r10
 397: (07) r3 += -400
 398: (b7) r4 = 8
; bpf_dynptr_slice
 399: (85) call kfunc#0
 400: (15) if r0 == 0x0 goto pc+64
 401: (bf) r7 = r0
 402: (71) r2 = *(u8 *)(r7 +1)
 403: (07) r2 += 1
 404: (67) r2 <<= 3
 405: (71) r1 = *(u8 *)(r7 +0)
 406: (73) *(u8 *)(r10 -39) = r1
 407: (0f) r9 += r2
 408: (6b) *(u16 *)(r10 -36) = r9
 409: (69) r9 = *(u16 *)(r10 -36)
 410: (6a) *(u16 *)(r10 -36) = 0
 411: (15) if r1 == 0x0 goto pc+53
 412: (15) if r1 == 0x2b goto pc+52
 413: (15) if r1 == 0x3c goto pc+51
 414: (15) if r1 == 0x2c goto pc+50
 415: (55) if r1 != 0x33 goto pc+1
 416: (05) goto pc+48
 417: (71) r1 = *(u8 *)(r10 -39)
 418: (15) if r1 == 0x6 goto pc+18
 419: (15) if r1 == 0x11 goto pc+29
 420: (15) if r1 == 0x1 goto pc+1
 421: (55) if r1 != 0x3a goto pc+43
 422: (bf) r1 = r10
 423: (07) r1 += -328
 424: (bf) r2 = r9
 425: (bf) r3 = r10
 426: (07) r3 += -392
 427: (b7) r4 = 4
; bpf_dynptr_slice
 428: (85) call kfunc#0
 429: (15) if r0 == 0x0 goto pc+35
 430: (bf) r7 = r0
 431: (71) r1 = *(u8 *)(r7 +0)
 432: (73) *(u8 *)(r10 -32) = r1
 433: (71) r1 = *(u8 *)(r7 +1)
 434: (73) *(u8 *)(r10 -31) = r1
 435: (72) *(u8 *)(r10 -38) = 1
 436: (05) goto pc+28
 437: (bf) r1 = r10
 438: (07) r1 += -328
 439: (bf) r2 = r9
 440: (bf) r3 = r10
 441: (07) r3 += -392
 442: (b7) r4 = 20
; bpf_dynptr_slice
 443: (85) call kfunc#0
 444: (15) if r0 == 0x0 goto pc+20
 445: (bf) r7 = r0
 446: (71) r1 = *(u8 *)(r7 +13)
 447: (73) *(u8 *)(r10 -37) = r1
 448: (05) goto pc+9
 449: (bf) r1 = r10
 450: (07) r1 += -328
 451: (bf) r2 = r9
 452: (bf) r3 = r10
 453: (07) r3 += -392
 454: (b7) r4 = 8
; bpf_dynptr_slice
 455: (85) call kfunc#0
 456: (15) if r0 == 0x0 goto pc+8
 457: (bf) r7 = r0
 458: (69) r1 = *(u16 *)(r7 +0)
 459: (dc) r1 = be16 r1
 460: (6b) *(u16 *)(r10 -36) = r1
 461: (69) r1 = *(u16 *)(r7 +2)
 462: (dc) r1 = be16 r1
 463: (6b) *(u16 *)(r10 -34) = r1
 464: (72) *(u8 *)(r10 -38) = 1
; line 7: drop tcp to *:25 cgroup "/sys/fs/cgroup/system.slice/app.service"
 465: (71) r1 = *(u8 *)(r10 -40)
 466: (15) if r1 == 0x0 goto pc+532
 467: (71) r1 = *(u8 *)(r10 -39)
 468: (55) if r1 != 0x6 goto pc+173
 469: (71) r1 = *(u8 *)(r10 -38)
 470: (15) if r1 == 0x0 goto pc+171
 471: (69) r1 = *(u16 *)(r10 -34)
 472: (55) if r1 != 0x19 goto pc+169
; cgroup "/sys/fs/cgroup/system.slice/app.service": slot 0
 473: (62) *(u32 *)(r10 -24) = 0
 474: (18) r1 = map[cgroups]
 476: (bf) r2 = r10
 477: (07) r2 += -24
 478: (85) call bpf_map_lookup_elem#1
 479: (15) if r0 == 0x0 goto pc+162
 480: (79) r1 = *(u64 *)(r0 +0)
 481: (7b) *(u64 *)(r10 -304) = r1
 482: (61) r1 = *(u32 *)(r0 +8)
 483: (7b) *(u64 *)(r10 -296) = r1
; cgroup: skb->sk, a full socket of this namespace
 484: (79) r1 = *(u64 *)(r6 +8)
; sk_buff.sk
 485: (79) r1 = *(u64 *)(r1 +0)
 486: (15) if r1 == 0x0 goto pc+155
; sock_common.skc_state
 487: (71) r2 = *(u8 *)(r1 +0)
 488: (15) if r2 == 0x6 goto pc+153
 489: (15) if r2 == 0xc goto pc+152
; sock_common.skc_net
 490: (79) r2 = *(u64 *)(r1 +0)
 491: (79) r3 = *(u64 *)(r6 +0)
; nf_hook_state.net
 492: (79) r3 = *(u64 *)(r3 +0)
 493: (5d) if r2 != r3 goto pc+148
; sock.sk_cgrp_data
 494: (79) r1 = *(u64 *)(r1 +0)
 495: (15) if r1 == 0x0 goto pc+146
; cgroup.level
 496: (61) r2 = *(u32 *)(r1 +0)
 497: (79) r3 = *(u64 *)(r10 -296)
 498: (ad) if r2 < r3 goto pc+139
 499: (1f) r2 -= r3
 500: (25) if r2 > 0x20 goto pc+137
 501: (15) if r2 == 0x0 goto pc+127
; cgroup_subsys_state.parent
 502: (79) r1 = *(u64 *)(r1 +0)
 503: (15) if r1 == 0x0 goto pc+134
 504: (17) r2 -= 1
 505: (15) if r2 == 0x0 goto pc+123
; cgroup_subsys_state.parent
 506: (79) r1 = *(u64 *)(r1 +0)
 507: (15) if r1 == 0x0 goto pc+130
 508: (17) r2 -= 1
 509: (15) if r2 == 0x0 goto pc+119
; cgroup_subsys_state.parent
 510: (79) r1 = *(u64 *)(r1 +0)
 511: (15) if r1 == 0x0 goto pc+126
 512: (17) r2 -= 1
 513: (15) if r2 == 0x0 goto pc+115
; cgroup_subsys_state.parent
 514: (79) r1 = *(u64 *)(r1 +0)
 515: (15) if r1 == 0x0 goto pc+122
 516: (17) r2 -= 1
 517: (15) if r2 == 0x0 goto pc+111
; cgroup_subsys_state.parent
 518: (79) r1 = *(u64 *)(r1 +0)
 519: (15) if r1 == 0x0 goto pc+118
 520: (17) r2 -= 1
 521: (15) if r2 == 0x0 goto pc+107
; cgroup_subsys_state.parent
 522: (79) r1 = *(u64 *)(r1 +0)
 523: (15) if r1 == 0x0 goto pc+114
 524: (17) r2 -= 1
 525: (15) if r2 == 0x0 goto pc+103
; cgroup_subsys_state.parent
 526: (79) r1 = *(u64 *)(r1 +0)
 527: (15) if r1 == 0x0 goto pc+110
 528: (17) r2 -= 1
 529: (15) if r2 == 0x0 goto pc+99
; cgroup_subsys_state.parent
 530: (79) r1 = *(u64 *)(r1 +0)
 531: (15) if r1 == 0x0 goto pc+106
 532: (17) r2 -= 1
 533: (15) if r2 == 0x0 goto pc+95
; cgroup_subsys_state.parent
 534: (79) r1 = *(u64 *)(r1 +0)
 535: (15) if r1 == 0x0 goto pc+102
 536: (17) r2 -= 1
 537: (15) if r2 == 0x0 goto pc+91
; cgroup_subsys_state.parent
 538: (79) r1 = *(u64 *)(r1 +0)
 539: (15) if r1 == 0x0 goto pc+98
 540: (17) r2 -= 1
 541: (15) if r2 == 0x0 goto pc+87
; cgroup_subsys_state.parent
 542: (79) r1 = *(u64 *)(r1 +0)
 543: (15) if r1 == 0x0 goto pc+94
 544: (17) r2 -= 1
 545: (15) if r2 == 0x0 goto pc+83
; cgroup_subsys_state.parent
 546: (79) r1 = *(u64 *)(r1 +0)
 547: (15) if r1 == 0x0 goto pc+90
 548: (17) r2 -= 1
 549: (15) if r2 == 0x0 goto pc+79
; cgroup_subsys_state.parent
 550: (79) r1 = *(u64 *)(r1 +0)
 551: (15) if r1 == 0x0 goto pc+86
 552: (17) r2 -= 1
 553: (15) if r2 == 0x0 goto pc+75
; cgroup_subsys_state.parent
 554: (79) r1 = *(u64 *)(r1 +0)
 555: (15) if r1 == 0x0 goto pc+82
 556: (17) r2 -= 1
 557: (15) if r2 == 0x0 goto pc+71
; cgroup_subsys_state.parent
 558: (79) r1 = *(u64 *)(r1 +0)
 559: (15) if r1 == 0x0 goto pc+78
 560: (17) r2 -= 1
 561: (15) if r2 == 0x0 goto pc+67
; cgroup_subsys_state.parent
 562: (79) r1 = *(u64 *)(r1 +0)
 563: (15) if r1 == 0x0 goto pc+74
 564: (17) r2 -= 1
 565: (15) if r2 == 0x0 goto pc+63
; cgroup_subsys_state.parent
 566: (79) r1 = *(u64 *)(r1 +0)
 567: (15) if r1 == 0x0 goto pc+70
 568: (17) r2 -= 1
 569: (15) if r2 == 0x0 goto pc+59
; cgroup_subsys_state.parent
 570: (79) r1 = *(u64 *)(r1 +0)
 571: (15) if r1 == 0x0 goto pc+66
 572: (17) r2 -= 1
 573: (15) if r2 == 0x0 goto pc+55
; cgroup_subsys_state.parent
 574: (79) r1 = *(u64 *)(r1 +0)
 575: (15) if r1 == 0x0 goto pc+62
 576: (17) r2 -= 1
 577: (15) if r2 == 0x0 goto pc+51
; cgroup_subsys_state.parent
 578: (79) r1 = *(u64 *)(r1 +0)
 579: (15) if r1 == 0x0 goto pc+58
 580: (17) r2 -= 1
 581: (15) if r2 == 0x0 goto pc+47
; cgroup_subsys_state.parent
 582: (79) r1 = *(u64 *)(r1 +0)
 583: (15) if r1 == 0x0 goto pc+54
 584: (17) r2 -= 1
 585: (15) if r2 == 0x0 goto pc+43
; cgroup_subsys_state.parent
 586: (79) r1 = *(u64 *)(r1 +0)
 587: (15) if r1 == 0x0 goto pc+50
 588: (17) r2 -= 1
 589: (15) if r2 == 0x0 goto pc+39
; cgroup_subsys_state.parent
 590: (79) r1 = *(u64 *)(r1 +0)
 591: (15) if r1 == 0x0 goto pc+46
 592: (17) r2 -= 1
 593: (15) if r2 == 0x0 goto pc+35
; cgroup_subsys_state.parent
 594: (79) r1 = *(u64 *)(r1 +0)
 595: (15) if r1 == 0x0 goto pc+42
 596: (17) r2 -= 1
 597: (15) if r2 == 0x0 goto pc+31
; cgroup_subsys_state.parent
 598: (79) r1 = *(u64 *)(r1 +0)
 599: (15) if r1 == 0x0 goto pc+38
 600: (17) r2 -= 1
 601: (15) if r2 == 0x0 goto pc+27
; cgroup_subsys_state.parent
 602: (79) r1 = *(u64 *)(r1 +0)
 603: (15) if r1 == 0x0 goto pc+34
 604: (17) r2 -= 1
 605: (15) if r2 == 0x0 goto pc+23
; cgroup_subsys_state.parent
 606: (79) r1 = *(u64 *)(r1 +0)
 607: (15) if r1 == 0x0 goto pc+30
 608: (17) r2 -= 1
 609: (15) if r2 == 0x0 goto pc+19
; cgroup_subsys_state.parent
 610: (79) r1 = *(u64 *)(r1 +0)
 611: (15) if r1 == 0x0 goto pc+26
 612: (17) r2 -= 1
 613: (15) if r2 == 0x0 goto pc+15
; cgroup_subsys_state.parent
 614: (79) r1 = *(u64 *)(r1 +0)
 615: (15) if r1 == 0x0 goto pc+22
 616: (17) r2 -= 1
 617: (15) if r2 == 0x0 goto pc+11
; cgroup_subsys_state.parent
 618: (79) r1 = *(u64 *)(r1 +0)
 619: (15) if r1 == 0x0 goto pc+18
 620: (17) r2 -= 1
 621: (15) if r2 == 0x0 goto pc+7
; cgroup_subsys_state.parent
 622: (79) r1 = *(u64 *)(r1 +0)
 623: (15) if r1 == 0x0 goto pc+14
 624: (17) r2 -= 1
 625: (15) if r2 == 0x0 goto pc+3
; cgroup_subsys_state.parent
 626: (79) r1 = *(u64 *)(r1 +0)
 627: (15) if r1 == 0x0 goto pc+10
 628: (17) r2 -= 1
; cgroup_subsys_state.cgroup
 629: (79) r1 = *(u64 *)(r1 +0)
 630: (15) if r1 == 0x0 goto pc+7
; cgroup.kn
 631: (79) r1 = *(u64 *)(r1 +0)
 632: (15) if r1 == 0x0 goto pc+5
; kernfs_node.id
 633: (79) r0 = *(u64 *)(r1 +0)
 634: (15) if r0 == 0x0 goto pc+3
 635: (79) r1 = *(u64 *)(r10 -304)
 636: (5d) if r0 != r1 goto pc+1
 637: (05) goto pc+1
 638: (05) goto pc+3
 639: (62) *(u32 *)(r10 -24) = 0
 640: (b7) r9 = 0
 641: (05) goto pc+359
; line 8: allow cgroup unit "db.service"
; cgroup unit "db.service": slot 1
 642: (62) *(u32 *)(r10 -24) = 1
 643: (18) r1 = map[cgroups]
 645: (bf) r2 = r10
 646: (07) r2 += -24
 647: (85) call bpf_map_lookup_elem#1
 648: (15) if r0 == 0x0 goto pc+162
 649: (79) r1 = *(u64 *)(r0 +0)
 650: (7b) *(u64 *)(r10 -304) = r1
 651: (61) r1 = *(u32 *)(r0 +8)
 652: (7b) *(u64 *)(r10 -296) = r1
; cgroup: skb->sk, a full socket of this namespace
 653: (79) r1 = *(u64 *)(r6 +8)
; sk_buff.sk
 654: (79) r1 = *(u64 *)(r1 +0)
 655: (15) if r1 == 0x0 goto pc+155
; sock_common.skc_state
 656: (71) r2 = *(u8 *)(r1 +0)
 657: (15) if r2 == 0x6 goto pc+153
 658: (15) if r2 == 0xc goto pc+152
; sock_common.skc_net
 659: (79) r2 = *(u64 *)(r1 +0)
 660: (79) r3 = *(u64 *)(r6 +0)
; nf_hook_state.net
 661: (79) r3 = *(u64 *)(r3 +0)
 662: (5d) if r2 != r3 goto pc+148
; sock.sk_cgrp_data
 663: (79) r1 = *(u64 *)(r1 +0)
 664: (15) if r1 == 0x0 goto pc+146
; cgroup.level
 665: (61) r2 = *(u32 *)(r1 +0)
 666: (79) r3 = *(u64 *)(r10 -296)
 667: (ad) if r2 < r3 goto pc+139
 668: (1f) r2 -= r3
 669: (25) if r2 > 0x20 goto pc+137
 670: (15) if r2 == 0x0 goto pc+127
; cgroup_subsys_state.parent
 671: (79) r1 = *(u64 *)(r1 +0)
 672: (15) if r1 == 0x0 goto pc+134
 673: (17) r2 -= 1
 674: (15) if r2 == 0x0 goto pc+123
; cgroup_subsys_state.parent
 675: (79) r1 = *(u64 *)(r1 +0)
 676: (15) if r1 == 0x0 goto pc+130
 677: (17) r2 -= 1
 678: (15) if r2 == 0x0 goto pc+119
; cgroup_subsys_state.parent
 679: (79) r1 = *(u64 *)(r1 +0)
 680: (15) if r1 == 0x0 goto pc+126
 681: (17) r2 -= 1
 682: (15) if r2 == 0x0 goto pc+115
; cgroup_subsys_state.parent
 683: (79) r1 = *(u64 *)(r1 +0)
 684: (15) if r1 == 0x0 goto pc+122
 685: (17) r2 -= 1
 686: (15) if r2 == 0x0 goto pc+111
; cgroup_subsys_state.parent
 687: (79) r1 = *(u64 *)(r1 +0)
 688: (15) if r1 == 0x0 goto pc+118
 689: (17) r2 -= 1
 690: (15) if r2 == 0x0 goto pc+107
; cgroup_subsys_state.parent
 691: (79) r1 = *(u64 *)(r1 +0)
 692: (15) if r1 == 0x0 goto pc+114
 693: (17) r2 -= 1
 694: (15) if r2 == 0x0 goto pc+103
; cgroup_subsys_state.parent
 695: (79) r1 = *(u64 *)(r1 +0)
 696: (15) if r1 == 0x0 goto pc+110
 697: (17) r2 -= 1
 698: (15) if r2 == 0x0 goto pc+99
; cgroup_subsys_state.parent
 699: (79) r1 = *(u64 *)(r1 +0)
 700: (15) if r1 == 0x0 goto pc+106
 701: (17) r2 -= 1
 702: (15) if r2 == 0x0 goto pc+95
; cgroup_subsys_state.parent
 703: (79) r1 = *(u64 *)(r1 +0)
 704: (15) if r1 == 0x0 goto pc+102
 705: (17) r2 -= 1
 706: (15) if r2 == 0x0 goto pc+91
; cgroup_subsys_state.parent
 707: (79) r1 = *(u64 *)(r1 +0)
 708: (15) if r1 == 0x0 goto pc+98
 709: (17) r2 -= 1
 710: (15) if r2 == 0x0 goto pc+87
; cgroup_subsys_state.parent
 711: (79) r1 = *(u64 *)(r1 +0)
 712: (15) if r1 == 0x0 goto pc+94
 713: (17) r2 -= 1
 714: (15) if r2 == 0x0 goto pc+83
; cgroup_subsys_state.parent
 715: (79) r1 = *(u64 *)(r1 +0)
 716: (15) if r1 == 0x0 goto pc+90
 717: (17) r2 -= 1
 718: (15) if r2 == 0x0 goto pc+79
; cgroup_subsys_state.parent
 719: (79) r1 = *(u64 *)(r1 +0)
 720: (15) if r1 == 0x0 goto pc+86
 721: (17) r2 -= 1
 722: (15) if r2 == 0x0 goto pc+75
; cgroup_subsys_state.parent
 723: (79) r1 = *(u64 *)(r1 +0)
 724: (15) if r1 == 0x0 goto pc+82
 725: (17) r2 -= 1
 726: (15) if r2 == 0x0 goto pc+71
; cgroup_subsys_state.parent
 727: (79) r1 = *(u64 *)(r1 +0)
 728: (15) if r1 == 0x0 goto pc+78
 729: (17) r2 -= 1
 730: (15) if r2 == 0x0 goto pc+67
; cgroup_subsys_state.parent
 731: (79) r1 = *(u64 *)(r1 +0)
 732: (15) if r1 == 0x0 goto pc+74
 733: (17) r2 -= 1
 734: (15) if r2 == 0x0 goto pc+63
; cgroup_subsys_state.parent
 735: (79) r1 = *(u64 *)(r1 +0)
 736: (15) if r1 == 0x0 goto pc+70
 737: (17) r2 -= 1
 738: (15) if r2 == 0x0 goto pc+59
; cgroup_subsys_state.parent
 739: (79) r1 = *(u64 *)(r1 +0)
 740: (15) if r1 == 0x0 goto pc+66
 741: (17) r2 -= 1
 742: (15) if r2 == 0x0 goto pc+55
; cgroup_subsys_state.parent
 743: (79) r1 = *(u64 *)(r1 +0)
 744: (15) if r1 == 0x0 goto pc+62
 745: (17) r2 -= 1
 746: (15) if r2 == 0x0 goto pc+51
; cgroup_subsys_state.parent
 747: (79) r1 = *(u64 *)(r1 +0)
 748: (15) if r1 == 0x0 goto pc+58
 749: (17) r2 -= 1
 750: (15) if r2 == 0x0 goto pc+47
; cgroup_subsys_state.parent
 751: (79) r1 = *(u64 *)(r1 +0)
 752: (15) if r1 == 0x0 goto pc+54
 753: (17) r2 -= 1
 754: (15) if r2 == 0x0 goto pc+43
; cgroup_subsys_state.parent
 755: (79) r1 = *(u64 *)(r1 +0)
 756: (15) if r1 == 0x0 goto pc+50
 757: (17) r2 -= 1
 758: (15) if r2 == 0x0 goto pc+39
; cgroup_subsys_state.parent
 759: (79) r1 = *(u64 *)(r1 +0)
 760: (15) if r1 == 0x0 goto pc+46
 761: (17) r2 -= 1
 762: (15) if r2 == 0x0 goto pc+35
; cgroup_subsys_state.parent
 763: (79) r1 = *(u64 *)(r1 +0)
 764: (15) if r1 == 0x0 goto pc+42
 765: (17) r2 -= 1
 766: (15) if r2 == 0x0 goto pc+31
; cgroup_subsys_state.parent
 767: (79) r1 = *(u64 *)(r1 +0)
 768: (15) if r1 == 0x0 goto pc+38
 769: (17) r2 -= 1
 770: (15) if r2 == 0x0 goto pc+27
; cgroup_subsys_state.parent
 771: (79) r1 = *(u64 *)(r1 +0)
 772: (15) if r1 == 0x0 goto pc+34
 773: (17) r2 -= 1
 774: (15) if r2 == 0x0 goto pc+23
; cgroup_subsys_state.parent
 775: (79) r1 = *(u64 *)(r1 +0)
 776: (15) if r1 == 0x0 goto pc+30
 777: (17) r2 -= 1
 778: (15) if r2 == 0x0 goto pc+19
; cgroup_subsys_state.parent
 779: (79) r1 = *(u64 *)(r1 +0)
 780: (15) if r1 == 0x0 goto pc+26
 781: (17) r2 -= 1
 782: (15) if r2 == 0x0 goto pc+15
; cgroup_subsys_state.parent
 783: (79) r1 = *(u64 *)(r1 +0)
 784: (15) if r1 == 0x0 goto pc+22
 785: (17) r2 -= 1
 786: (15) if r2 == 0x0 goto pc+11
; cgroup_subsys_state.parent
 787: (79) r1 = *(u64 *)(r1 +0)
 788: (15) if r1 == 0x0 goto pc+18
 789: (17) r2 -= 1
 790: (15) if r2 == 0x0 goto pc+7
; cgroup_subsys_state.parent
 791: (79) r1 = *(u64 *)(r1 +0)
 792: (15) if r1 == 0x0 goto pc+14
 793: (17) r2 -= 1
 794: (15) if r2 == 0x0 goto pc+3
; cgroup_subsys_state.parent
 795: (79) r1 = *(u64 *)(r1 +0)
 796: (15) if r1 == 0x0 goto pc+10
 797: (17) r2 -= 1
; cgroup_subsys_state.cgroup
 798: (79) r1 = *(u64 *)(r1 +0)
 799: (15) if r1 == 0x0 goto pc+7
; cgroup.kn
 800: (79) r1 = *(u64 *)(r1 +0)
 801: (15) if r1 == 0x0 goto pc+5
; kernfs_node.id
 802: (79) r0 = *(u64 *)(r1 +0)
 803: (15) if r0 == 0x0 goto pc+3
 804: (79) r1 = *(u64 *)(r10 -304)
 805: (5d) if r0 != r1 goto pc+1
 806: (05) goto pc+1
 807: (05) goto pc+3
 808: (62) *(u32 *)(r10 -24) = 1
 809: (b7) r9 = 1
 810: (05) goto pc+190
; line 9: count udp cgroup !"/sys/fs/cgroup/system.slice"
 811: (71) r1 = *(u8 *)(r10 -39)
 812: (55) if r1 != 0x11 goto pc+186
; cgroup !"/sys/fs/cgroup/system.slice": slot 2
 813: (62) *(u32 *)(r10 -24) = 2
 814: (18) r1 = map[cgroups]
 816: (bf) r2 = r10
 817: (07) r2 += -24
 818: (85) call bpf_map_lookup_elem#1
 819: (15) if r0 == 0x0 goto pc+179
 820: (79) r1 = *(u64 *)(r0 +0)
 821: (7b) *(u64 *)(r10 -304) = r1
 822: (61) r1 = *(u32 *)(r0 +8)
 823: (7b) *(u64 *)(r10 -296) = r1
; cgroup: skb->sk, a full socket of this namespace
 824: (79) r1 = *(u64 *)(r6 +8)
; sk_buff.sk
 825: (79) r1 = *(u64 *)(r1 +0)
 826: (15) if r1 == 0x0 goto pc+172
; sock_common.skc_state
 827: (71) r2 = *(u8 *)(r1 +0)
 828: (15) if r2 == 0x6 goto pc+170
 829: (15) if r2 == 0xc goto pc+169
; sock_common.skc_net
 830: (79) r2 = *(u64 *)(r1 +0)
 831: (79) r3 = *(u64 *)(r6 +0)
; nf_hook_state.net
 832: (79) r3 = *(u64 *)(r3 +0)
 833: (5d) if r2 != r3 goto pc+165
; sock.sk_cgrp_data
 834: (79) r1 = *(u64 *)(r1 +0)
 835: (15) if r1 == 0x0 goto pc+163
; cgroup.level
 836: (61) r2 = *(u32 *)(r1 +0)
 837: (79) r3 = *(u64 *)(r10 -296)
 838: (ad) if r2 < r3 goto pc+139
 839: (1f) r2 -= r3
 840: (25) if r2 > 0x20 goto pc+137
 841: (15) if r2 == 0x0 goto pc+127
; cgroup_subsys_state.parent
 842: (79) r1 = *(u64 *)(r1 +0)
 843: (15) if r1 == 0x0 goto pc+134
 844: (17) r2 -= 1
 845: (15) if r2 == 0x0 goto pc+123
; cgroup_subsys_state.parent
 846: (79) r1 = *(u64 *)(r1 +0)
 847: (15) if r1 == 0x0 goto pc+130
 848: (17) r2 -= 1
 849: (15) if r2 == 0x0 goto pc+119
; cgroup_subsys_state.parent
 850: (79) r1 = *(u64 *)(r1 +0)
 851: (15) if r1 == 0x0 goto pc+126
 852: (17) r2 -= 1
 853: (15) if r2 == 0x0 goto pc+115
; cgroup_subsys_state.parent
 854: (79) r1 = *(u64 *)(r1 +0)
 855: (15) if r1 == 0x0 goto pc+122
 856: (17) r2 -= 1
 857: (15) if r2 == 0x0 goto pc+111
; cgroup_subsys_state.parent
 858: (79) r1 = *(u64 *)(r1 +0)
 859: (15) if r1 == 0x0 goto pc+118
 860: (17) r2 -= 1
 861: (15) if r2 == 0x0 goto pc+107
; cgroup_subsys_state.parent
 862: (79) r1 = *(u64 *)(r1 +0)
 863: (15) if r1 == 0x0 goto pc+114
 864: (17) r2 -= 1
 865: (15) if r2 == 0x0 goto pc+103
; cgroup_subsys_state.parent
 866: (79) r1 = *(u64 *)(r1 +0)
 867: (15) if r1 == 0x0 goto pc+110
 868: (17) r2 -= 1
 869: (15) if r2 == 0x0 goto pc+99
; cgroup_subsys_state.parent
 870: (79) r1 = *(u64 *)(r1 +0)
 871: (15) if r1 == 0x0 goto pc+106
 872: (17) r2 -= 1
 873: (15) if r2 == 0x0 goto pc+95
; cgroup_subsys_state.parent
 874: (79) r1 = *(u64 *)(r1 +0)
 875: (15) if r1 == 0x0 goto pc+102
 876: (17) r2 -= 1
 877: (15) if r2 == 0x0 goto pc+91
; cgroup_subsys_state.parent
 878: (79) r1 = *(u64 *)(r1 +0)
 879: (15) if r1 == 0x0 goto pc+98
 880: (17) r2 -= 1
 881: (15) if r2 == 0x0 goto pc+87
; cgroup_subsys_state.parent
 882: (79) r1 = *(u64 *)(r1 +0)
 883: (15) if r1 == 0x0 goto pc+94
 884: (17) r2 -= 1
 885: (15) if r2 == 0x0 goto pc+83
; cgroup_subsys_state.parent
 886: (79) r1 = *(u64 *)(r1 +0)
 887: (15) if r1 == 0x0 goto pc+90
 888: (17) r2 -= 1
 889: (15) if r2 == 0x0 goto pc+79
; cgroup_subsys_state.parent
 890: (79) r1 = *(u64 *)(r1 +0)
 891: (15) if r1 == 0x0 goto pc+86
 892: (17) r2 -= 1
 893: (15) if r2 == 0x0 goto pc+75
; cgroup_subsys_state.parent
 894: (79) r1 = *(u64 *)(r1 +0)
 895: (15) if r1 == 0x0 goto pc+82
 896: (17) r2 -= 1
 897: (15) if r2 == 0x0 goto pc+71
; cgroup_subsys_state.parent
 898: (79) r1 = *(u64 *)(r1 +0)
 899: (15) if r1 == 0x0 goto pc+78
 900: (17) r2 -= 1
 901: (15) if r2 == 0x0 goto pc+67
; cgroup_subsys_state.parent
 902: (79) r1 = *(u64 *)(r1 +0)
 903: (15) if r1 == 0x0 goto pc+74
 904: (17) r2 -= 1
 905: (15) if r2 == 0x0 goto pc+63
; cgroup_subsys_state.parent
 906: (79) r1 = *(u64 *)(r1 +0)
 907: (15) if r1 == 0x0 goto pc+70
 908: (17) r2 -= 1
 909: (15) if r2 == 0x0 goto pc+59
; cgroup_subsys_state.parent
 910: (79) r1 = *(u64 *)(r1 +0)
 911: (15) if r1 == 0x0 goto pc+66
 912: (17) r2 -= 1
 913: (15) if r2 == 0x0 goto pc+55
; cgroup_subsys_state.parent
 914: (79) r1 = *(u64 *)(r1 +0)
 915: (15) if r1 == 0x0 goto pc+62
 916: (17) r2 -= 1
 917: (15) if r2 == 0x0 goto pc+51
; cgroup_subsys_state.parent
 918: (79) r1 = *(u64 *)(r1 +0)
 919: (15) if r1 == 0x0 goto pc+58
 920: (17) r2 -= 1
 921: (15) if r2 == 0x0 goto pc+47
; cgroup_subsys_state.parent
 922: (79) r1 = *(u64 *)(r1 +0)
 923: (15) if r1 == 0x0 goto pc+54
 924: (17) r2 -= 1
 925: (15) if r2 == 0x0 goto pc+43
; cgroup_subsys_state.parent
 926: (79) r1 = *(u64 *)(r1 +0)
 927: (15) if r1 == 0x0 goto pc+50
 928: (17) r2 -= 1
 929: (15) if r2 == 0x0 goto pc+39
; cgroup_subsys_state.parent
 930: (79) r1 = *(u64 *)(r1 +0)
 931: (15) if r1 == 0x0 goto pc+46
 932: (17) r2 -= 1
 933: (15) if r2 == 0x0 goto pc+35
; cgroup_subsys_state.parent
 934: (79) r1 = *(u64 *)(r1 +0)
 935: (15) if r1 == 0x0 goto pc+42
 936: (17) r2 -= 1
 937: (15) if r2 == 0x0 goto pc+31
; cgroup_subsys_state.parent
 938: (79) r1 = *(u64 *)(r1 +0)
 939: (15) if r1 == 0x0 goto pc+38
 940: (17) r2 -= 1
 941: (15) if r2 == 0x0 goto pc+27
; cgroup_subsys_state.parent
 942: (79) r1 = *(u64 *)(r1 +0)
 943: (15) if r1 == 0x0 goto pc+34
 944: (17) r2 -= 1
 945: (15) if r2 == 0x0 goto pc+23
; cgroup_subsys_state.parent
 946: (79) r1 = *(u64 *)(r1 +0)
 947: (15) if r1 == 0x0 goto pc+30
 948: (17) r2 -= 1
 949: (15) if r2 == 0x0 goto pc+19
; cgroup_subsys_state.parent
 950: (79) r1 = *(u64 *)(r1 +0)
 951: (15) if r1 == 0x0 goto pc+26
 952: (17) r2 -= 1
 953: (15) if r2 == 0x0 goto pc+15
; cgroup_subsys_state.parent
 954: (79) r1 = *(u64 *)(r1 +0)
 955: (15) if r1 == 0x0 goto pc+22
 956: (17) r2 -= 1
 957: (15) if r2 == 0x0 goto pc+11
; cgroup_subsys_state.parent
 958: (79) r1 = *(u64 *)(r1 +0)
 959: (15) if r1 == 0x0 goto pc+18
 960: (17) r2 -= 1
 961: (15) if r2 == 0x0 goto pc+7
; cgroup_subsys_state.parent
 962: (79) r1 = *(u64 *)(r1 +0)
 963: (15) if r1 == 0x0 goto pc+14
 964: (17) r2 -= 1
 965: (15) if r2 == 0x0 goto pc+3
; cgroup_subsys_state.parent
 966: (79) r1 = *(u64 *)(r1 +0)
 967: (15) if r1 == 0x0 goto pc+10
 968: (17) r2 -= 1
; cgroup_subsys_state.cgroup
 969: (79) r1 = *(u64 *)(r1 +0)
 970: (15) if r1 == 0x0 goto pc+7
; cgroup.kn
 971: (79) r1 = *(u64 *)(r1 +0)
 972: (15) if r1 == 0x0 goto pc+5
; kernfs_node.id
 973: (79) r0 = *(u64 *)(r1 +0)
 974: (15) if r0 == 0x0 goto pc+3
 975: (79) r1 = *(u64 *)(r10 -304)
 976: (5d) if r0 != r1 goto pc+1
 977: (05) goto pc+21
 978: (62) *(u32 *)(r10 -24) = 2
 979: (61) r1 = *(u32 *)(r10 -24)
 980: (77) r1 >>= 8
 981: (63) *(u32 *)(r10 -104) = r1
 982: (18) r1 = map[counters]
 984: (bf) r2 = r10
 985: (07) r2 += -104
 986: (85) call bpf_map_lookup_elem#1
 987: (15) if r0 == 0x0 goto pc+11
 988: (61) r1 = *(u32 *)(r10 -24)
 989: (57) r1 &= 255
 990: (67) r1 <<= 4
 991: (0f) r0 += r1
 992: (79) r1 = *(u64 *)(r0 +0)
 993: (07) r1 += 1
 994: (7b) *(u64 *)(r0 +0) = r1
 995: (79) r1 = *(u64 *)(r0 +8)
 996: (61) r2 = *(u32 *)(r10 -28)
 997: (0f) r1 += r2
 998: (7b) *(u64 *)(r0 +8) = r1
; line 10: default allow
 999: (62) *(u32 *)(r10 -24) = 3
1000: (b7) r9 = 1
1001: (61) r1 = *(u32 *)(r10 -24)
1002: (77) r1 >>= 8
1003: (63) *(u32 *)(r10 -104) = r1
1004: (18) r1 = map[counters]
1006: (bf) r2 = r10
1007: (07) r2 += -104
1008: (85) call bpf_map_lookup_elem#1
1009: (15) if r0 == 0x0 goto pc+11
1010: (61) r1 = *(u32 *)(r10 -24)
1011: (57) r1 &= 255
1012: (67) r1 <<= 4
1013: (0f) r0 += r1
1014: (79) r1 = *(u64 *)(r0 +0)
1015: (07) r1 += 1
1016: (7b) *(u64 *)(r0 +0) = r1
1017: (79) r1 = *(u64 *)(r0 +8)
1018: (61) r2 = *(u32 *)(r10 -28)
1019: (0f) r1 += r2
1020: (7b) *(u64 *)(r0 +8) = r1
1021: (bf) r0 = r9
1022: (95) exit

nf_in_10: netfilter input 10 section netfilter (680 insns)
; prologue: parse headers through a dynptr into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -96) = 0
  2: (7a) *(u64 *)(r10 -88) = 0
  3: (7a) *(u64 *)(r10 -80) = 0
  4: (7a) *(u64 *)(r10 -72) = 0
  5: (7a) *(u64 *)(r10 -64) = 0
  6: (7a) *(u64 *)(r10 -56) = 0
  7: (7a) *(u64 *)(r10 -48) = 0
  8: (7a) *(u64 *)(r10 -40) = 0
  9: (7a) *(u64 *)(r10 -32) = 0
 10: (7a) *(u64 *)(r10 -24) = 0
 11: (7a) *(u64 *)(r10 -16) = 0
 12: (7a) *(u64 *)(r10 -8) = 0
 13: (79) r1 = *(u64 *)(r6 +8)
 14: (b7) r2 = 0
 15: (bf) r3 = r10
 16: (07) r3 += -328
; bpf_dynptr_from_skb
 17: (85) call kfunc#0
 18: (55) if r0 != 0x0 goto pc+446
 19: (bf) r1 = r10
 20: (07) r1 += -328
; bpf_dynptr_size
 21: (85) call kfunc#0
 22: (63) *(u32 *)(r10 -28) = r0
 23: (bf) r1 = r10
 24: (07) r1 += -328
 25: (b7) r2 = 0
 26: (bf) r3 = r10
 27: (07) r3 += -368
 28: (b7) r4 = 20
; bpf_dynptr_slice
 29: (85) call kfunc#0
 30: (15) if r0 == 0x0 goto pc+434
 31: (bf) r7 = r0
 32: (71) r1 = *(u8 *)(r7 +0)
 33: (77) r1 >>= 4
 34: (15) if r1 == 0x4 goto pc+2
 35: (55) if r1 != 0x6 goto pc+429
 36: (05) goto pc+21
 37: (71) r2 = *(u8 *)(r7 +0)
 38: (57) r2 &= 15
 39: (a5) if r2 < 0x5 goto pc+425
 40: (61) r1 = *(u32 *)(r7 +12)
 41: (63) *(u32 *)(r10 -92) = r1
 42: (61) r1 = *(u32 *)(r7 +16)
 43: (63) *(u32 *)(r10 -84) = r1
 44: (71) r1 = *(u8 *)(r7 +9)
 45: (73) *(u8 *)(r10 -39) = r1
 46: (72) *(u8 *)(r10 -40) = 4
 47: (69) r1 = *(u16 *)(r7 +6)
 48: (bf) r3 = r1
 49: (57) r3 &= 65343
 50: (07) r3 += 65535
 51: (77) r3 >>= 16
 52: (73) *(u8 *)(r10 -29) = r3
 53: (57) r1 &= 65311
 54: (55) if r1 != 0x0 goto pc+410
 55: (67) r2 <<= 2
 56: (bf) r9 = r2
 57: (05) goto pc+359
 58: (bf) r1 = r10
 59: (07) r1 += -328
 60: (b7) r2 = 0
 61: (bf) r3 = r10
 62: (07) r3 += -368
 63: (b7) r4 = 40
; bpf_dynptr_slice
 64: (85) call kfunc#0
 65: (15) if r0 == 0x0 goto pc+399
 66: (bf) r7 = r0
 67: (61) r1 = *(u32 *)(r7 +8)
 68: (63) *(u32 *)(r10 -76) = r1
 69: (61) r1 = *(u32 *)(r7 +12)
 70: (63) *(u32 *)(r10 -72) = r1
 71: (61) r1 = *(u32 *)(r7 +16)
 72: (63) *(u32 *)(r10 -68) = r1
 73: (61) r1 = *(u32 *)(r7 +20)
 74: (63) *(u32 *)(r10 -64) = r1
 75: (61) r1 = *(u32 *)(r7 +24)
 76: (63) *(u32 *)(r10 -56) = r1
 77: (61) r1 = *(u32 *)(r7 +28)
 78: (63) *(u32 *)(r10 -52) = r1
 79: (61) r1 = *(u32 *)(r7 +32)
 80: (63) *(u32 *)(r10 -48) = r1
 81: (61) r1 = *(u32 *)(r7 +36)
 82: (63) *(u32 *)(r10 -44) = r1
 83: (71) r1 = *(u8 *)(r7 +6)
 84: (73) *(u8 *)(r10 -39) = r1
 85: (72) *(u8 *)(r10 -40) = 6
 86: (b7) r9 = 40
 87: (15) if r1 == 0x0 goto pc+35
 88: (15) if r1 == 0x2b goto pc+34
 89: (15) if r1 == 0x3c goto pc+33
 90: (15) if r1 == 0x2c goto pc+15
 91: (55) if r1 != 0x33 goto pc+325
 92: (05) goto pc+0
 93: (bf) r1 = r10
 94: (07) r1 += -328
 95: (bf) r2 = r9
 96: (bf) r3 = r10
 97: (07) r3 += -400
 98: (b7) r4 = 8
; bpf_dynptr_slice
 99: (85) call kfunc#0
100: (15) if r0 == 0x0 goto pc+364
101: (bf) r7 = r0
102: (71) r2 = *(u8 *)(r7 +1)
103: (07) r2 += 2
104: (67) r2 <<= 2
105: (05) goto pc+29
106: (bf) r1 = r10
107: (07) r1 += -328
108: (bf) r2 = r9
109: (bf) r3 = r10
110: (07) r3 += -400
111: (b7) r4 = 8
; bpf_dynptr_slice
112: (85) call kfunc#0
113: (15) if r0 == 0x0 goto pc+351
114: (bf) r7 = r0
115: (72) *(u8 *)(r10 -29) = 1
116: (71) r1 = *(u8 *)(r7 +0)
117: (73) *(u8 *)(r10 -39) = r1
118: (69) r2 = *(u16 *)(r7 +2)
119: (57) r2 &= 63743
120: (55) if r2 != 0x0 goto pc+344
121: (b7) r2 = 8
122: (05) goto pc+12
123: (bf) r1 = r10
124: (07) r1 += -328
125: (bf) r2 = r9
126: (bf) r3 = r10
127: (07) r3 += -400
128: (b7) r4 = 8
; bpf_dynptr_slice
129: (85) call kfunc#0
130: (15) if r0 == 0x0 goto pc+334
131: (bf) r7 = r0
132: (71) r2 = *(u8 *)(r7 +1)
133: (07) r2 += 1
134: (67) r2 <<= 3
135: (71) r1 = *(u8 *)(r7 +0)
136: (73) *(u8 *)(r10 -39) = r1
137: (0f) r9 += r2
138: (6b) *(u16 *)(r10 -36) = r9
139: (69) r9 = *(u16 *)(r10 -36)
140: (6a) *(u16 *)(r10 -36) = 0
141: (15) if r1 == 0x0 goto pc+35
142: (15) if r1 == 0x2b goto pc+34
143: (15) if r1 == 0x3c goto pc+33
144: (15) if r1 == 0x2c goto pc+15
145: (55) if r1 != 0x33 goto pc+271
146: (05) goto pc+0
147: (bf) r1 = r10
148: (07) r1 += -328
149: (bf) r2 = r9
150: (bf) r3 = r10
151: (07) r3 += -400
152: (b7) r4 = 8
; bpf_dynptr_slice
153: (85) call kfunc#0
154: (15) if r0 == 0x0 goto pc+310
155: (bf) r7 = r0
156: (71) r2 = *(u8 *)(r7 +1)
157: (07) r2 += 2
158: (67) r2 <<= 2
159: (05) goto pc+29
160: (bf) r1 = r10
161: (07) r1 += -328
162: (bf) r2 = r9
163: (bf) r3 = r10
164: (07) r3 += -400
165: (b7) r4 = 8
; bpf_dynptr_slice
166: (85) call kfunc#0
167: (15) if r0 == 0x0 goto pc+297
168: (bf) r7 = r0
169: (72) *(u8 *)(r10 -29) = 1
170: (71) r1 = *(u8 *)(r7 +0)
171: (73) *(u8 *)(r10 -39) = r1
172: (69) r2 = *(u16 *)(r7 +2)
173: (57) r2 &= 63743
174: (55) if r2 != 0x0 goto pc+290
175: (b7) r2 = 8
176: (05) goto pc+12
177: (bf) r1 = r10
178: (07) r1 += -328
179: (bf) r2 = r9
180: (bf) r3 = r10
181: (07) r3 += -400
182: (b7) r4 = 8
; bpf_dynptr_slice
183: (85) call kfunc#0
184: (15) if r0 == 0x0 goto pc+280
185: (bf) r7 = r0
186: (71) r2 = *(u8 *)(r7 +1)
187: (07) r2 += 1
188: (67) r2 <<= 3
189: (71) r1 = *(u8 *)(r7 +0)
190: (73) *(u8 *)(r10 -39) = r1
191: (0f) r9 += r2
192: (6b) *(u16 *)(r10 -36) = r9
193: (69) r9 = *(u16 *)(r10 -36)
194: (6a) *(u16 *)(r10 -36) = 0
195: (15) if r1 == 0x0 goto pc+35
196: (15) if r1 == 0x2b goto pc+34
197: (15) if r1 == 0x3c goto pc+33
198: (15) if r1 == 0x2c goto pc+15
199: (55) if r1 != 0x33 goto pc+217
200: (05) goto pc+0
201: (bf) r1 = r10
202: (07) r1 += -328
203: (bf) r2 = r9
204: (bf) r3 = r10
205: (07) r3 += -400
206: (b7) r4 = 8
; bpf_dynptr_slice
207: (85) call kfunc#0
208: (15) if r0 == 0x0 goto pc+256
209: (bf) r7 = r0
210: (71) r2 = *(u8 *)(r7 +1)
211: (07) r2 += 2
212: (67) r2 <<= 2
213: (05) goto pc+29
214: (bf) r1 = r10
215: (07) r1 += -328
216: (bf) r2 = r9
217: (bf) r3 = r10
218: (07) r3 += -400
219: (b7) r4 = 8
; bpf_dynptr_slice
220: (85) call kfunc#0
221: (15) if r0 == 0x0 goto pc+243
222: (bf) r7 = r0
223: (72) *(u8 *)(r10 -29) = 1
224: (71) r1 = *(u8 *)(r7 +0)
225: (73) *(u8 *)(r10 -39) = r1
226: (69) r2 = *(u16 *)(r7 +2)
227: (57) r2 &= 63743
228: (55) if r2 != 0x0 goto pc+236
229: (b7) r2 = 8
230: (05) goto pc+12
231: (bf) r1 = r10
232: (07) r1 += -328
233: (bf) r2 = r9
234: (bf) r3 = r10
235: (07) r3 += -400
236: (b7) r4 = 8
; bpf_dynptr_slice
237: (85) call kfunc#0
238: (15) if r0 == 0x0 goto pc+226
239: (bf) r7 = r0
240: (71) r2 = *(u8 *)(r7 +1)
241: (07) r2 += 1
242: (67) r2 <<= 3
243: (71) r1 = *(u8 *)(r7 +0)
244: (73) *(u8 *)(r10 -39) = r1
245: (0f) r9 += r2
246: (6b) *(u16 *)(r10 -36) = r9
247: (69) r9 = *(u16 *)(r10 -36)
248: (6a) *(u16 *)(r10 -36) = 0
249: (15) if r1 == 0x0 goto pc+35
250: (15) if r1 == 0x2b goto pc+34
251: (15) if r1 == 0x3c goto pc+33
252: (15) if r1 == 0x2c goto pc+15
253: (55) if r1 != 0x33 goto pc+163
254: (05) goto pc+0
255: (bf) r1 = r10
256: (07) r1 += -328
257: (bf) r2 = r9
258: (bf) r3 = r10
259: (07) r3 += -400
260: (b7) r4 = 8
; bpf_dynptr_slice
261: (85) call kfunc#0
262: (15) if r0 == 0x0 goto pc+202
263: (bf) r7 = r0
264: (71) r2 = *(u8 *)(r7 +1)
265: (07) r2 += 2
266: (67) r2 <<= 2
267: (05) goto pc+29
268: (bf) r1 = r10
269: (07) r1 += -328
270: (bf) r2 = r9
271: (bf) r3 = r10
272: (07) r3 += -400
273: (b7) r4 = 8
; bpf_dynptr_slice
274: (85) call kfunc#0
275: (15) if r0 == 0x0 goto pc+189
276: (bf) r7 = r0
277: (72) *(u8 *)(r10 -29) = 1
278: (71) r1 = *(u8 *)(r7 +0)
279: (73) *(u8 *)(r10 -39) = r1
280: (69) r2 = *(u16 *)(r7 +2)
281: (57) r2 &= 63743
282: (55) if r2 != 0x0 goto pc+182
283: (b7) r2 = 8
284: (05) goto pc+12
285: (bf) r1 = r10
286: (07) r1 += -328
287: (bf) r2 = r9
288: (bf) r3 = r10
289: (07) r3 += -400
290: (b7) r4 = 8
; bpf_dynptr_slice
291: (85) call kfunc#0
292: (15) if r0 == 0x0 goto pc+172
293: (bf) r7 = r0
294: (71) r2 = *(u8 *)(r7 +1)
295: (07) r2 += 1
296: (67) r2 <<= 3
297: (71) r1 = *(u8 *)(r7 +0)
298: (73) *(u8 *)(r10 -39) = r1
299: (0f) r9 += r2
300: (6b) *(u16 *)(r10 -36) = r9
301: (69) r9 = *(u16 *)(r10 -36)
302: (6a) *(u16 *)(r10 -36) = 0
303: (15) if r1 == 0x0 goto pc+35
304: (15) if r1 == 0x2b goto pc+34
305: (15) if r1 == 0x3c goto pc+33
306: (15) if r1 == 0x2c goto pc+15
307: (55) if r1 != 0x33 goto pc+109
308: (05) goto pc+0
309: (bf) r1 = r10
310: (07) r1 += -328
311: (bf) r2 = r9
312: (bf) r3 = r10
313: (07) r3 += -400
314: (b7) r4 = 8
; bpf_dynptr_slice
315: (85) call kfunc#0
316: (15) if r0 == 0x0 goto pc+148
317: (bf) r7 = r0
318: (71) r2 = *(u8 *)(r7 +1)
319: (07) r2 += 2
320: (67) r2 <<= 2
321: (05) goto pc+29
322: (bf) r1 = r10
323: (07) r1 += -328
324: (bf) r2 = r9
325: (bf) r3 = r10
326: (07) r3 += -400
327: (b7) r4 = 8
; bpf_dynptr_slice
328: (85) call kfunc#0
329: (15) if r0 == 0x0 goto pc+135
330: (bf) r7 = r0
331: (72) *(u8 *)(r10 -29) = 1
332: (71) r1 = *(u8 *)(r7 +0)
333: (73) *(u8 *)(r10 -39) = r1
334: (69) r2 = *(u16 *)(r7 +2)
335: (57) r2 &= 63743
336: (55) if r2 != 0x0 goto pc+128
337: (b7) r2 = 8
338: (05) goto pc+12
339: (bf) r1 = r10
340: (07) r1 += -328
341: (bf) r2 = r9
342: (bf) r3 = r10
343: (07) r3 += -400
344: (b7) r4 = 8
; bpf_dynptr_slice
345: (85) call kfunc#0
346: (15) if r0 == 0x0 goto pc+118
347: (bf) r7 = r0
348: (71) r2 = *(u8 *)(r7 +1)
349: (07) r2 += 1
350: (67) r2 <<= 3
351: (71) r1 = *(u8 *)(r7 +0)
352: (73) *(u8 *)(r10 -39) = r1
353: (0f) r9 += r2
354: (6b) *(u16 *)(r10 -36) = r9
355: (69) r9 = *(u16 *)(r10 -36)
356: (6a) *(u16 *)(r10 -36) = 0
357: (15) if r1 == 0x0 goto pc+35
358: (15) if r1 == 0x2b goto pc+34
359: (15) if r1 == 0x3c goto pc+33
360: (15) if r1 == 0x2c goto pc+15
361: (55) if r1 != 0x33 goto pc+55
362: (05) goto pc+0
363: (bf) r1 = r10
364: (07) r1 += -328
365: (bf) r2 = r9
366: (bf) r3 = r10
367: (07) r3 += -400
368: (b7) r4 = 8
; bpf_dynptr_slice
369: (85) call kfunc#0
370: (15) if r0 == 0x0 goto pc+94
371: (bf) r7 = r0
372: (71) r2 = *(u8 *)(r7 +1)
373: (07) r2 += 2
374: (67) r2 <<= 2
375: (05) goto pc+29
376: (bf) r1 = r10
377: (07) r1 += -328
378: (bf) r2 = r9
379: (bf) r3 = r10
380: (07) r3 += -400
381: (b7) r4 = 8
; bpf_dynptr_slice
382: (85) call kfunc#0
383: (15) if r0 == 0x0 goto pc+81
384: (bf) r7 = r0
385: (72) *(u8 *)(r10 -29) = 1
386: (71) r1 = *(u8 *)(r7 +0)
387: (73) *(u8 *)(r10 -39) = r1
388: (69) r2 = *(u16 *)(r7 +2)
389: (57) r2 &= 63743
390: (55) if r2 != 0x0 goto pc+74
391: (b7) r2 = 8
392: (05) goto pc+12
393: (bf) r1 = r10
394: (07) r1 += -328
395: (bf) r2 = r9
396: (bf) r3 = r10
397: (07) r3 += -400
398: (b7) r4 = 8
; bpf_dynptr_slice
399: (85) call kfunc#0
400: (15) if r0 == 0x0 goto pc+64
401: (bf) r7 = r0
402: (71) r2 = *(u8 *)(r7 +1)
403: (07) r2 += 1
404: (67) r2 <<= 3
405: (71) r1 = *(u8 *)(r7 +0)
406: (73) *(u8 *)(r10 -39) = r1
407: (0f) r9 += r2
408: (6b) *(u16 *)(r10 -36) = r9
409: (69) r9 = *(u16 *)(r10 -36)
410: (6a) *(u16 *)(r10 -36) = 0
411: (15) if r1 == 0x0 goto pc+53
412: (15) if r1 == 0x2b goto pc+52
413: (15) if r1 == 0x3c goto pc+51
414: (15) if r1 == 0x2c goto pc+50
415: (55) if r1 != 0x33 goto pc+1
416: (05) goto pc+48
417: (71) r1 = *(u8 *)(r10 -39)
418: (15) if r1 == 0x6 goto pc+18
419: (15) if r1 == 0x11 goto pc+29
420: (15) if r1 == 0x1 goto pc+1
421: (55) if r1 != 0x3a goto pc+43
422: (bf) r1 = r10
423: (07) r1 += -328
424: (bf) r2 = r9
425: (bf) r3 = r10
426: (07) r3 += -392
427: (b7) r4 = 4
; bpf_dynptr_slice
428: (85) call kfunc#0
429: (15) if r0 == 0x0 goto pc+35
430: (bf) r7 = r0
431: (71) r1 = *(u8 *)(r7 +0)
432: (73) *(u8 *)(r10 -32) = r1
433: (71) r1 = *(u8 *)(r7 +1)
434: (73) *(u8 *)(r10 -31) = r1
435: (72) *(u8 *)(r10 -38) = 1
436: (05) goto pc+28
437: (bf) r1 = r10
438: (07) r1 += -328
439: (bf) r2 = r9
440: (bf) r3 = r10
441: (07) r3 += -392
442: (b7) r4 = 20
; bpf_dynptr_slice
443: (85) call kfunc#0
444: (15) if r0 == 0x0 goto pc+20
445: (bf) r7 = r0
446: (71) r1 = *(u8 *)(r7 +13)
447: (73) *(u8 *)(r10 -37) = r1
448: (05) goto pc+9
449: (bf) r1 = r10
450: (07) r1 += -328
451: (bf) r2 = r9
452: (bf) r3 = r10
453: (07) r3 += -392
454: (b7) r4 = 8
; bpf_dynptr_slice
455: (85) call kfunc#0
456: (15) if r0 == 0x0 goto pc+8
457: (bf) r7 = r0
458: (69) r1 = *(u16 *)(r7 +0)
459: (dc) r1 = be16 r1
460: (6b) *(u16 *)(r10 -36) = r1
461: (69) r1 = *(u16 *)(r7 +2)
462: (dc) r1 = be16 r1
463: (6b) *(u16 *)(r10 -34) = r1
464: (72) *(u8 *)(r10 -38) = 1
; line 14: count tcp cgroup "/sys/fs/cgroup/system.slice/app.service/"
465: (71) r1 = *(u8 *)(r10 -40)
466: (15) if r1 == 0x0 goto pc+189
467: (71) r1 = *(u8 *)(r10 -39)
468: (55) if r1 != 0x6 goto pc+187
; cgroup "/sys/fs/cgroup/system.slice/app.service": slot 0
469: (62) *(u32 *)(r10 -24) = 0
470: (18) r1 = map[cgroups]
472: (bf) r2 = r10
473: (07) r2 += -24
474: (85) call bpf_map_lookup_elem#1
475: (15) if r0 == 0x0 goto pc+180
476: (79) r1 = *(u64 *)(r0 +0)
477: (7b) *(u64 *)(r10 -304) = r1
478: (61) r1 = *(u32 *)(r0 +8)
479: (7b) *(u64 *)(r10 -296) = r1
; cgroup: skb->sk, a full socket of this namespace
480: (79) r1 = *(u64 *)(r6 +8)
; sk_buff.sk
481: (79) r1 = *(u64 *)(r1 +0)
482: (15) if r1 == 0x0 goto pc+173
; sock_common.skc_state
483: (71) r2 = *(u8 *)(r1 +0)
484: (15) if r2 == 0x6 goto pc+171
485: (15) if r2 == 0xc goto pc+170
; sock_common.skc_net
486: (79) r2 = *(u64 *)(r1 +0)
487: (79) r3 = *(u64 *)(r6 +0)
; nf_hook_state.net
488: (79) r3 = *(u64 *)(r3 +0)
489: (5d) if r2 != r3 goto pc+166
; sock.sk_cgrp_data
490: (79) r1 = *(u64 *)(r1 +0)
491: (15) if r1 == 0x0 goto pc+164
; cgroup.level
492: (61) r2 = *(u32 *)(r1 +0)
493: (79) r3 = *(u64 *)(r10 -296)
494: (ad) if r2 < r3 goto pc+139
495: (1f) r2 -= r3
496: (25) if r2 > 0x20 goto pc+137
497: (15) if r2 == 0x0 goto pc+127
; cgroup_subsys_state.parent
498: (79) r1 = *(u64 *)(r1 +0)
499: (15) if r1 == 0x0 goto pc+134
500: (17) r2 -= 1
501: (15) if r2 == 0x0 goto pc+123
; cgroup_subsys_state.parent
502: (79) r1 = *(u64 *)(r1 +0)
503: (15) if r1 == 0x0 goto pc+130
504: (17) r2 -= 1
505: (15) if r2 == 0x0 goto pc+119
; cgroup_subsys_state.parent
506: (79) r1 = *(u64 *)(r1 +0)
507: (15) if r1 == 0x0 goto pc+126
508: (17) r2 -= 1
509: (15) if r2 == 0x0 goto pc+115
; cgroup_subsys_state.parent
510: (79) r1 = *(u64 *)(r1 +0)
511: (15) if r1 == 0x0 goto pc+122
512: (17) r2 -= 1
513: (15) if r2 == 0x0 goto pc+111
; cgroup_subsys_state.parent
514: (79) r1 = *(u64 *)(r1 +0)
515: (15) if r1 == 0x0 goto pc+118
516: (17) r2 -= 1
517: (15) if r2 == 0x0 goto pc+107
; cgroup_subsys_state.parent
518: (79) r1 = *(u64 *)(r1 +0)
519: (15) if r1 == 0x0 goto pc+114
520: (17) r2 -= 1
521: (15) if r2 == 0x0 goto pc+103
; cgroup_subsys_state.parent
522: (79) r1 = *(u64 *)(r1 +0)
523: (15) if r1 == 0x0 goto pc+110
524: (17) r2 -= 1
525: (15) if r2 == 0x0 goto pc+99
; cgroup_subsys_state.parent
526: (79) r1 = *(u64 *)(r1 +0)
527: (15) if r1 == 0x0 goto pc+106
528: (17) r2 -= 1
529: (15) if r2 == 0x0 goto pc+95
; cgroup_subsys_state.parent
530: (79) r1 = *(u64 *)(r1 +0)
531: (15) if r1 == 0x0 goto pc+102
532: (17) r2 -= 1
533: (15) if r2 == 0x0 goto pc+91
; cgroup_subsys_state.parent
534: (79) r1 = *(u64 *)(r1 +0)
535: (15) if r1 == 0x0 goto pc+98
536: (17) r2 -= 1
537: (15) if r2 == 0x0 goto pc+87
; cgroup_subsys_state.parent
538: (79) r1 = *(u64 *)(r1 +0)
539: (15) if r1 == 0x0 goto pc+94
540: (17) r2 -= 1
541: (15) if r2 == 0x0 goto pc+83
; cgroup_subsys_state.parent
542: (79) r1 = *(u64 *)(r1 +0)
543: (15) if r1 == 0x0 goto pc+90
544: (17) r2 -= 1
545: (15) if r2 == 0x0 goto pc+79
; cgroup_subsys_state.parent
546: (79) r1 = *(u64 *)(r1 +0)
547: (15) if r1 == 0x0 goto pc+86
548: (17) r2 -= 1
549: (15) if r2 == 0x0 goto pc+75
; cgroup_subsys_state.parent
550: (79) r1 = *(u64 *)(r1 +0)
551: (15) if r1 == 0x0 goto pc+82
552: (17) r2 -= 1
553: (15) if r2 == 0x0 goto pc+71
; cgroup_subsys_state.parent
554: (79) r1 = *(u64 *)(r1 +0)
555: (15) if r1 == 0x0 goto pc+78
556: (17) r2 -= 1
557: (15) if r2 == 0x0 goto pc+67
; cgroup_subsys_state.parent
558: (79) r1 = *(u64 *)(r1 +0)
559: (15) if r1 == 0x0 goto pc+74
560: (17) r2 -= 1
561: (15) if r2 == 0x0 goto pc+63
; cgroup_subsys_state.parent
562: (79) r1 = *(u64 *)(r1 +0)
563: (15) if r1 == 0x0 goto pc+70
564: (17) r2 -= 1
565: (15) if r2 == 0x0 goto pc+59
; cgroup_subsys_state.parent
566: (79) r1 = *(u64 *)(r1 +0)
567: (15) if r1 == 0x0 goto pc+66
568: (17) r2 -= 1
569: (15) if r2 == 0x0 goto pc+55
; cgroup_subsys_state.parent
570: (79) r1 = *(u64 *)(r1 +0)
571: (15) if r1 == 0x0 goto pc+62
572: (17) r2 -= 1
573: (15) if r2 == 0x0 goto pc+51
; cgroup_subsys_state.parent
574: (79) r1 = *(u64 *)(r1 +0)
575: (15) if r1 == 0x0 goto pc+58
576: (17) r2 -= 1
577: (15) if r2 == 0x0 goto pc+47
; cgroup_subsys_state.parent
578: (79) r1 = *(u64 *)(r1 +0)
579: (15) if r1 == 0x0 goto pc+54
580: (17) r2 -= 1
581: (15) if r2 == 0x0 goto pc+43
; cgroup_subsys_state.parent
582: (79) r1 = *(u64 *)(r1 +0)
583: (15) if r1 == 0x0 goto pc+50
584: (17) r2 -= 1
585: (15) if r2 == 0x0 goto pc+39
; cgroup_subsys_state.parent
586: (79) r1 = *(u64 *)(r1 +0)
587: (15) if r1 == 0x0 goto pc+46
588: (17) r2 -= 1
589: (15) if r2 == 0x0 goto pc+35
; cgroup_subsys_state.parent
590: (79) r1 = *(u64 *)(r1 +0)
591: (15) if r1 == 0x0 goto pc+42
592: (17) r2 -= 1
593: (15) if r2 == 0x0 goto pc+31
; cgroup_subsys_state.parent
594: (79) r1 = *(u64 *)(r1 +0)
595: (15) if r1 == 0x0 goto pc+38
596: (17) r2 -= 1
597: (15) if r2 == 0x0 goto pc+27
; cgroup_subsys_state.parent
598: (79) r1 = *(u64 *)(r1 +0)
599: (15) if r1 == 0x0 goto pc+34
600: (17) r2 -= 1
601: (15) if r2 == 0x0 goto pc+23
; cgroup_subsys_state.parent
602: (79) r1 = *(u64 *)(r1 +0)
603: (15) if r1 == 0x0 goto pc+30
604: (17) r2 -= 1
605: (15) if r2 == 0x0 goto pc+19
; cgroup_subsys_state.parent
606: (79) r1 = *(u64 *)(r1 +0)
607: (15) if r1 == 0x0 goto pc+26
608: (17) r2 -= 1
609: (15) if r2 == 0x0 goto pc+15
; cgroup_subsys_state.parent
610: (79) r1 = *(u64 *)(r1 +0)
611: (15) if r1 == 0x0 goto pc+22
612: (17) r2 -= 1
613: (15) if r2 == 0x0 goto pc+11
; cgroup_subsys_state.parent
614: (79) r1 = *(u64 *)(r1 +0)
615: (15) if r1 == 0x0 goto pc+18
616: (17) r2 -= 1
617: (15) if r2 == 0x0 goto pc+7
; cgroup_subsys_state.parent
618: (79) r1 = *(u64 *)(r1 +0)
619: (15) if r1 == 0x0 goto pc+14
620: (17) r2 -= 1
621: (15) if r2 == 0x0 goto pc+3
; cgroup_subsys_state.parent
622: (79) r1 = *(u64 *)(r1 +0)
623: (15) if r1 == 0x0 goto pc+10
624: (17) r2 -= 1
; cgroup_subsys_state.cgroup
625: (79) r1 = *(u64 *)(r1 +0)
626: (15) if r1 == 0x0 goto pc+7
; cgroup.kn
627: (79) r1 = *(u64 *)(r1 +0)
628: (15) if r1 == 0x0 goto pc+5
; kernfs_node.id
629: (79) r0 = *(u64 *)(r1 +0)
630: (15) if r0 == 0x0 goto pc+3
631: (79) r1 = *(u64 *)(r10 -304)
632: (5d) if r0 != r1 goto pc+1
633: (05) goto pc+1
634: (05) goto pc+21
635: (62) *(u32 *)(r10 -24) = 4
636: (61) r1 = *(u32 *)(r10 -24)
637: (77) r1 >>= 8
638: (63) *(u32 *)(r10 -104) = r1
639: (18) r1 = map[counters]
641: (bf) r2 = r10
642: (07) r2 += -104
643: (85) call bpf_map_lookup_elem#1
644: (15) if r0 == 0x0 goto pc+11
645: (61) r1 = *(u32 *)(r10 -24)
646: (57) r1 &= 255
647: (67) r1 <<= 4
648: (0f) r0 += r1
649: (79) r1 = *(u64 *)(r0 +0)
650: (07) r1 += 1
651: (7b) *(u64 *)(r0 +0) = r1
652: (79) r1 = *(u64 *)(r0 +8)
653: (61) r2 = *(u32 *)(r10 -28)
654: (0f) r1 += r2
655: (7b) *(u64 *)(r0 +8) = r1
; line 15: default allow
656: (62) *(u32 *)(r10 -24) = 5
657: (b7) r9 = 1
658: (61) r1 = *(u32 *)(r10 -24)
659: (77) r1 >>= 8
660: (63) *(u32 *)(r10 -104) = r1
661: (18) r1 = map[counters]
663: (bf) r2 = r10
664: (07) r2 += -104
665: (85) call bpf_map_lookup_elem#1
666: (15) if r0 == 0x0 goto pc+11
667: (61) r1 = *(u32 *)(r10 -24)
668: (57) r1 &= 255
669: (67) r1 <<= 4
670: (0f) r0 += r1
671: (79) r1 = *(u64 *)(r0 +0)
672: (07) r1 += 1
673: (7b) *(u64 *)(r0 +0) = r1
674: (79) r1 = *(u64 *)(r0 +8)
675: (61) r2 = *(u32 *)(r10 -28)
676: (0f) r1 += r2
677: (7b) *(u64 *)(r0 +8) = r1
678: (bf) r0 = r9
679: (95) exit

tce_lo: tc egress lo section classifier (496 insns)
; prologue: parse headers into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -96) = 0
  2: (7a) *(u64 *)(r10 -88) = 0
  3: (7a) *(u64 *)(r10 -80) = 0
  4: (7a) *(u64 *)(r10 -72) = 0
  5: (7a) *(u64 *)(r10 -64) = 0
  6: (7a) *(u64 *)(r10 -56) = 0
  7: (7a) *(u64 *)(r10 -48) = 0
  8: (7a) *(u64 *)(r10 -40) = 0
  9: (7a) *(u64 *)(r10 -32) = 0
 10: (7a) *(u64 *)(r10 -24) = 0
 11: (7a) *(u64 *)(r10 -16) = 0
 12: (7a) *(u64 *)(r10 -8) = 0
 13: (61) r7 = *(u32 *)(r6 +76)
 14: (61) r8 = *(u32 *)(r6 +80)
 15: (61) r1 = *(u32 *)(r6 +0)
 16: (63) *(u32 *)(r10 -28) = r1
 17: (bf) r9 = r7
 18: (07) r9 += 14
 19: (bd) if r9 <= r8 goto pc+14
 20: (71) r1 = *(u8 *)(r10 -29)
 21: (73) *(u8 *)(r10 -95) = r1
 22: (73) *(u8 *)(r10 -87) = r1
 23: (73) *(u8 *)(r10 -79) = r1
 24: (73) *(u8 *)(r10 -71) = r1
 25: (73) *(u8 *)(r10 -63) = r1
 26: (73) *(u8 *)(r10 -55) = r1
 27: (73) *(u8 *)(r10 -47) = r1
 28: (73) *(u8 *)(r10 -39) = r1
 29: (73) *(u8 *)(r10 -31) = r1
 30: (73) *(u8 *)(r10 -23) = r1
 31: (73) *(u8 *)(r10 -15) = r1
 32: (73) *(u8 *)(r10 -7) = r1
 33: (05) goto pc+363
 34: (69) r1 = *(u16 *)(r7 +12)
 35: (15) if r1 == 0x81 goto pc+1
 36: (55) if r1 != 0xa888 goto pc+5
 37: (bf) r9 = r7
 38: (07) r9 += 18
 39: (2d) if r9 > r8 goto pc+357
 40: (69) r1 = *(u16 *)(r7 +16)
 41: (07) r7 += 4
 42: (15) if r1 == 0x8 goto pc+2
 43: (15) if r1 == 0xdd86 goto pc+28
 44: (05) goto pc+352
 45: (bf) r9 = r7
 46: (07) r9 += 34
 47: (2d) if r9 > r8 goto pc+349
 48: (71) r2 = *(u8 *)(r7 +14)
 49: (bf) r1 = r2
 50: (77) r1 >>= 4
 51: (55) if r1 != 0x4 goto pc+345
 52: (57) r2 &= 15
 53: (a5) if r2 < 0x5 goto pc+343
 54: (61) r1 = *(u32 *)(r7 +26)
 55: (63) *(u32 *)(r10 -92) = r1
 56: (61) r1 = *(u32 *)(r7 +30)
 57: (63) *(u32 *)(r10 -84) = r1
 58: (71) r1 = *(u8 *)(r7 +23)
 59: (73) *(u8 *)(r10 -39) = r1
 60: (72) *(u8 *)(r10 -40) = 4
 61: (69) r1 = *(u16 *)(r7 +20)
 62: (bf) r9 = r1
 63: (57) r9 &= 65343
 64: (07) r9 += 65535
 65: (77) r9 >>= 16
 66: (73) *(u8 *)(r10 -29) = r9
 67: (57) r1 &= 65311
 68: (55) if r1 != 0x0 goto pc+328
 69: (67) r2 <<= 2
 70: (0f) r7 += r2
 71: (05) goto pc+295
 72: (bf) r9 = r7
 73: (07) r9 += 54
 74: (2d) if r9 > r8 goto pc+322
 75: (71) r1 = *(u8 *)(r7 +14)
 76: (77) r1 >>= 4
 77: (55) if r1 != 0x6 goto pc+319
 78: (71) r2 = *(u8 *)(r7 +14)
 79: (77) r2 >>= 7
 80: (73) *(u8 *)(r10 -29) = r2
 81: (61) r1 = *(u32 *)(r7 +22)
 82: (63) *(u32 *)(r10 -76) = r1
 83: (61) r1 = *(u32 *)(r7 +26)
 84: (63) *(u32 *)(r10 -72) = r1
 85: (61) r1 = *(u32 *)(r7 +30)
 86: (63) *(u32 *)(r10 -68) = r1
 87: (61) r1 = *(u32 *)(r7 +34)
 88: (63) *(u32 *)(r10 -64) = r1
 89: (61) r1 = *(u32 *)(r7 +38)
 90: (63) *(u32 *)(r10 -56) = r1
 91: (61) r1 = *(u32 *)(r7 +42)
 92: (63) *(u32 *)(r10 -52) = r1
 93: (61) r1 = *(u32 *)(r7 +46)
 94: (63) *(u32 *)(r10 -48) = r1
 95: (61) r1 = *(u32 *)(r7 +50)
 96: (63) *(u32 *)(r10 -44) = r1
 97: (71) r1 = *(u8 *)(r7 +20)
 98: (73) *(u8 *)(r10 -39) = r1
 99: (72) *(u8 *)(r10 -40) = 6
100: (07) r7 += 40
101: (b7) r3 = 0
102: (15) if r1 == 0x0 goto pc+27
103: (15) if r1 == 0x2b goto pc+26
104: (15) if r1 == 0x3c goto pc+25
105: (15) if r1 == 0x2c goto pc+11
106: (55) if r1 != 0x33 goto pc+259
107: (05) goto pc+0
108: (bf) r4 = r7
109: (0f) r4 += r3
110: (bf) r5 = r4
111: (07) r5 += 22
112: (2d) if r5 > r8 goto pc+284
113: (71) r2 = *(u8 *)(r4 +15)
114: (07) r2 += 2
115: (67) r2 <<= 2
116: (05) goto pc+21
117: (bf) r4 = r7
118: (0f) r4 += r3
119: (bf) r5 = r4
120: (07) r5 += 22
121: (2d) if r5 > r8 goto pc+275
122: (72) *(u8 *)(r10 -29) = 1
123: (71) r1 = *(u8 *)(r4 +14)
124: (73) *(u8 *)(r10 -39) = r1
125: (69) r2 = *(u16 *)(r4 +16)
126: (57) r2 &= 63743
127: (55) if r2 != 0x0 goto pc+269
128: (b7) r2 = 8
129: (05) goto pc+8
130: (bf) r4 = r7
131: (0f) r4 += r3
132: (bf) r5 = r4
133: (07) r5 += 22
134: (2d) if r5 > r8 goto pc+262
135: (71) r2 = *(u8 *)(r4 +15)
136: (07) r2 += 1
137: (67) r2 <<= 3
138: (71) r1 = *(u8 *)(r4 +14)
139: (73) *(u8 *)(r10 -39) = r1
140: (0f) r3 += r2
141: (6b) *(u16 *)(r10 -36) = r3
142: (69) r3 = *(u16 *)(r10 -36)
143: (6a) *(u16 *)(r10 -36) = 0
144: (57) r3 &= 16383
145: (15) if r1 == 0x0 goto pc+27
146: (15) if r1 == 0x2b goto pc+26
147: (15) if r1 == 0x3c goto pc+25
148: (15) if r1 == 0x2c goto pc+11
149: (55) if r1 != 0x33 goto pc+216
150: (05) goto pc+0
151: (bf) r4 = r7
152: (0f) r4 += r3
153: (bf) r5 = r4
154: (07) r5 += 22
155: (2d) if r5 > r8 goto pc+241
156: (71) r2 = *(u8 *)(r4 +15)
157: (07) r2 += 2
158: (67) r2 <<= 2
159: (05) goto pc+21
160: (bf) r4 = r7
161: (0f) r4 += r3
162: (bf) r5 = r4
163: (07) r5 += 22
164: (2d) if r5 > r8 goto pc+232
165: (72) *(u8 *)(r10 -29) = 1
166: (71) r1 = *(u8 *)(r4 +14)
167: (73) *(u8 *)(r10 -39) = r1
168: (69) r2 = *(u16 *)(r4 +16)
169: (57) r2 &= 63743
170: (55) if r2 != 0x0 goto pc+226
171: (b7) r2 = 8
172: (05) goto pc+8
173: (bf) r4 = r7
174: (0f) r4 += r3
175: (bf) r5 = r4
176: (07) r5 += 22
177: (2d) if r5 > r8 goto pc+219
178: (71) r2 = *(u8 *)(r4 +15)
179: (07) r2 += 1
180: (67) r2 <<= 3
181: (71) r1 = *(u8 *)(r4 +14)
182: (73) *(u8 *)(r10 -39) = r1
183: (0f) r3 += r2
184: (6b) *(u16 *)(r10 -36) = r3
185: (69) r3 = *(u16 *)(r10 -36)
186: (6a) *(u16 *)(r10 -36) = 0
187: (57) r3 &= 16383
188: (15) if r1 == 0x0 goto pc+27
189: (15) if r1 == 0x2b goto pc+26
190: (15) if r1 == 0x3c goto pc+25
191: (15) if r1 == 0x2c goto pc+11
192: (55) if r1 != 0x33 goto pc+173
193: (05) goto pc+0
194: (bf) r4 = r7
195: (0f) r4 += r3
196: (bf) r5 = r4
197: (07) r5 += 22
198: (2d) if r5 > r8 goto pc+198
199: (71) r2 = *(u8 *)(r4 +15)
200: (07) r2 += 2
201: (67) r2 <<= 2
202: (05) goto pc+21
203: (bf) r4 = r7
204: (0f) r4 += r3
205: (bf) r5 = r4
206: (07) r5 += 22
207: (2d) if r5 > r8 goto pc+189
208: (72) *(u8 *)(r10 -29) = 1
209: (71) r1 = *(u8 *)(r4 +14)
210: (73) *(u8 *)(r10 -39) = r1
211: (69) r2 = *(u16 *)(r4 +16)
212: (57) r2 &= 63743
213: (55) if r2 != 0x0 goto pc+183
214: (b7) r2 = 8
215: (05) goto pc+8
216: (bf) r4 = r7
217: (0f) r4 += r3
218: (bf) r5 = r4
219: (07) r5 += 22
220: (2d) if r5 > r8 goto pc+176
221: (71) r2 = *(u8 *)(r4 +15)
222: (07) r2 += 1
223: (67) r2 <<= 3
224: (71) r1 = *(u8 *)(r4 +14)
225: (73) *(u8 *)(r10 -39) = r1
226: (0f) r3 += r2
227: (6b) *(u16 *)(r10 -36) = r3
228: (69) r3 = *(u16 *)(r10 -36)
229: (6a) *(u16 *)(r10 -36) = 0
230: (57) r3 &= 16383
231: (15) if r1 == 0x0 goto pc+27
232: (15) if r1 == 0x2b goto pc+26
233: (15) if r1 == 0x3c goto pc+25
234: (15) if r1 == 0x2c goto pc+11
235: (55) if r1 != 0x33 goto pc+130
236: (05) goto pc+0
237: (bf) r4 = r7
238: (0f) r4 += r3
239: (bf) r5 = r4
240: (07) r5 += 22
241: (2d) if r5 > r8 goto pc+155
242: (71) r2 = *(u8 *)(r4 +15)
243: (07) r2 += 2
244: (67) r2 <<= 2
245: (05) goto pc+21
246: (bf) r4 = r7
247: (0f) r4 += r3
248: (bf) r5 = r4
249: (07) r5 += 22
250: (2d) if r5 > r8 goto pc+146
251: (72) *(u8 *)(r10 -29) = 1
252: (71) r1 = *(u8 *)(r4 +14)
253: (73) *(u8 *)(r10 -39) = r1
254: (69) r2 = *(u16 *)(r4 +16)
255: (57) r2 &= 63743
256: (55) if r2 != 0x0 goto pc+140
257: (b7) r2 = 8
258: (05) goto pc+8
259: (bf) r4 = r7
260: (0f) r4 += r3
261: (bf) r5 = r4
262: (07) r5 += 22
263: (2d) if r5 > r8 goto pc+133
264: (71) r2 = *(u8 *)(r4 +15)
265: (07) r2 += 1
266: (67) r2 <<= 3
267: (71) r1 = *(u8 *)(r4 +14)
268: (73) *(u8 *)(r10 -39) = r1
269: (0f) r3 += r2
270: (6b) *(u16 *)(r10 -36) = r3
271: (69) r3 = *(u16 *)(r10 -36)
272: (6a) *(u16 *)(r10 -36) = 0
273: (57) r3 &= 16383
274: (15) if r1 == 0x0 goto pc+27
275: (15) if r1 == 0x2b goto pc+26
276: (15) if r1 == 0x3c goto pc+25
277: (15) if r1 == 0x2c goto pc+11
278: (55) if r1 != 0x33 goto pc+87
279: (05) goto pc+0
280: (bf) r4 = r7
281: (0f) r4 += r3
282: (bf) r5 = r4
283: (07) r5 += 22
284: (2d) if r5 > r8 goto pc+112
285: (71) r2 = *(u8 *)(r4 +15)
286: (07) r2 += 2
287: (67) r2 <<= 2
288: (05) goto pc+21
289: (bf) r4 = r7
290: (0f) r4 += r3
291: (bf) r5 = r4
292: (07) r5 += 22
293: (2d) if r5 > r8 goto pc+103
294: (72) *(u8 *)(r10 -29) = 1
295: (71) r1 = *(u8 *)(r4 +14)
296: (73) *(u8 *)(r10 -39) = r1
297: (69) r2 = *(u16 *)(r4 +16)
298: (57) r2 &= 63743
299: (55) if r2 != 0x0 goto pc+97
300: (b7) r2 = 8
301: (05) goto pc+8
302: (bf) r4 = r7
303: (0f) r4 += r3
304: (bf) r5 = r4
305: (07) r5 += 22
306: (2d) if r5 > r8 goto pc+90
307: (71) r2 = *(u8 *)(r4 +15)
308: (07) r2 += 1
309: (67) r2 <<= 3
310: (71) r1 = *(u8 *)(r4 +14)
311: (73) *(u8 *)(r10 -39) = r1
312: (0f) r3 += r2
313: (6b) *(u16 *)(r10 -36) = r3
314: (69) r3 = *(u16 *)(r10 -36)
315: (6a) *(u16 *)(r10 -36) = 0
316: (57) r3 &= 16383
317: (15) if r1 == 0x0 goto pc+27
318: (15) if r1 == 0x2b goto pc+26
319: (15) if r1 == 0x3c goto pc+25
320: (15) if r1 == 0x2c goto pc+11
321: (55) if r1 != 0x33 goto pc+44
322: (05) goto pc+0
323: (bf) r4 = r7
324: (0f) r4 += r3
325: (bf) r5 = r4
326: (07) r5 += 22
327: (2d) if r5 > r8 goto pc+69
328: (71) r2 = *(u8 *)(r4 +15)
329: (07) r2 += 2
330: (67) r2 <<= 2
331: (05) goto pc+21
332: (bf) r4 = r7
333: (0f) r4 += r3
334: (bf) r5 = r4
335: (07) r5 += 22
336: (2d) if r5 > r8 goto pc+60
337: (72) *(u8 *)(r10 -29) = 1
338: (71) r1 = *(u8 *)(r4 +14)
339: (73) *(u8 *)(r10 -39) = r1
340: (69) r2 = *(u16 *)(r4 +16)
341: (57) r2 &= 63743
342: (55) if r2 != 0x0 goto pc+54
343: (b7) r2 = 8
344: (05) goto pc+8
345: (bf) r4 = r7
346: (0f) r4 += r3
347: (bf) r5 = r4
348: (07) r5 += 22
349: (2d) if r5 > r8 goto pc+47
350: (71) r2 = *(u8 *)(r4 +15)
351: (07) r2 += 1
352: (67) r2 <<= 3
353: (71) r1 = *(u8 *)(r4 +14)
354: (73) *(u8 *)(r10 -39) = r1
355: (0f) r3 += r2
356: (6b) *(u16 *)(r10 -36) = r3
357: (69) r3 = *(u16 *)(r10 -36)
358: (6a) *(u16 *)(r10 -36) = 0
359: (57) r3 &= 16383
360: (15) if r1 == 0x0 goto pc+36
361: (15) if r1 == 0x2b goto pc+35
362: (15) if r1 == 0x3c goto pc+34
363: (15) if r1 == 0x2c goto pc+33
364: (55) if r1 != 0x33 goto pc+1
365: (05) goto pc+31
366: (0f) r7 += r3
367: (71) r1 = *(u8 *)(r10 -39)
368: (15) if r1 == 0x6 goto pc+12
369: (15) if r1 == 0x11 goto pc+17
370: (15) if r1 == 0x1 goto pc+1
371: (55) if r1 != 0x3a goto pc+25
372: (bf) r9 = r7
373: (07) r9 += 18
374: (2d) if r9 > r8 goto pc+22
375: (71) r1 = *(u8 *)(r7 +14)
376: (73) *(u8 *)(r10 -32) = r1
377: (71) r1 = *(u8 *)(r7 +15)
378: (73) *(u8 *)(r10 -31) = r1
379: (72) *(u8 *)(r10 -38) = 1
380: (05) goto pc+16
381: (bf) r9 = r7
382: (07) r9 += 34
383: (2d) if r9 > r8 goto pc+13
384: (71) r1 = *(u8 *)(r7 +27)
385: (73) *(u8 *)(r10 -37) = r1
386: (05) goto pc+3
387: (bf) r9 = r7
388: (07) r9 += 22
389: (2d) if r9 > r8 goto pc+7
390: (69) r1 = *(u16 *)(r7 +14)
391: (dc) r1 = be16 r1
392: (6b) *(u16 *)(r10 -36) = r1
393: (69) r1 = *(u16 *)(r7 +16)
394: (dc) r1 = be16 r1
395: (6b) *(u16 *)(r10 -34) = r1
396: (72) *(u8 *)(r10 -38) = 1
; line 19: drop udp to *:53 cgroup "/sys/fs/cgroup/system.slice/app.service"
397: (71) r1 = *(u8 *)(r10 -40)
398: (15) if r1 == 0x0 goto pc+73
399: (71) r1 = *(u8 *)(r10 -39)
400: (55) if r1 != 0x11 goto pc+29
401: (71) r1 = *(u8 *)(r10 -38)
402: (15) if r1 == 0x0 goto pc+27
403: (69) r1 = *(u16 *)(r10 -34)
404: (55) if r1 != 0x35 goto pc+25
; cgroup "/sys/fs/cgroup/system.slice/app.service": slot 0
405: (62) *(u32 *)(r10 -24) = 0
406: (18) r1 = map[cgroups]
408: (bf) r2 = r10
409: (07) r2 += -24
410: (85) call bpf_map_lookup_elem#1
411: (15) if r0 == 0x0 goto pc+18
412: (79) r1 = *(u64 *)(r0 +0)
413: (7b) *(u64 *)(r10 -304) = r1
414: (61) r1 = *(u32 *)(r0 +8)
415: (7b) *(u64 *)(r10 -296) = r1
416: (bf) r1 = r6
417: (85) call #79
418: (15) if r0 == 0x0 goto pc+11
419: (bf) r1 = r6
420: (61) r2 = *(u32 *)(r10 -296)
421: (85) call #83
422: (15) if r0 == 0x0 goto pc+3
423: (79) r1 = *(u64 *)(r10 -304)
424: (5d) if r0 != r1 goto pc+1
425: (05) goto pc+1
426: (05) goto pc+3
427: (62) *(u32 *)(r10 -24) = 6
428: (b7) r9 = 2
429: (05) goto pc+44
; line 20: count cgroup !unit "db.service"
; cgroup !unit "db.service": slot 1
430: (62) *(u32 *)(r10 -24) = 1
431: (18) r1 = map[cgroups]
433: (bf) r2 = r10
434: (07) r2 += -24
435: (85) call bpf_map_lookup_elem#1
436: (15) if r0 == 0x0 goto pc+35
437: (79) r1 = *(u64 *)(r0 +0)
438: (7b) *(u64 *)(r10 -304) = r1
439: (61) r1 = *(u32 *)(r0 +8)
440: (7b) *(u64 *)(r10 -296) = r1
441: (bf) r1 = r6
442: (85) call #79
443: (15) if r0 == 0x0 goto pc+28
444: (bf) r1 = r6
445: (61) r2 = *(u32 *)(r10 -296)
446: (85) call #83
447: (15) if r0 == 0x0 goto pc+3
448: (79) r1 = *(u64 *)(r10 -304)
449: (5d) if r0 != r1 goto pc+1
450: (05) goto pc+21
451: (62) *(u32 *)(r10 -24) = 7
452: (61) r1 = *(u32 *)(r10 -24)
453: (77) r1 >>= 8
454: (63) *(u32 *)(r10 -104) = r1
455: (18) r1 = map[counters]
457: (bf) r2 = r10
458: (07) r2 += -104
459: (85) call bpf_map_lookup_elem#1
460: (15) if r0 == 0x0 goto pc+11
461: (61) r1 = *(u32 *)(r10 -24)
462: (57) r1 &= 255
463: (67) r1 <<= 4
464: (0f) r0 += r1
465: (79) r1 = *(u64 *)(r0 +0)
466: (07) r1 += 1
467: (7b) *(u64 *)(r0 +0) = r1
468: (79) r1 = *(u64 *)(r0 +8)
469: (61) r2 = *(u32 *)(r10 -28)
470: (0f) r1 += r2
471: (7b) *(u64 *)(r0 +8) = r1
; line 21: default allow
472: (62) *(u32 *)(r10 -24) = 8
473: (b7) r9 = 0
474: (61) r1 = *(u32 *)(r10 -24)
475: (77) r1 >>= 8
476: (63) *(u32 *)(r10 -104) = r1
477: (18) r1 = map[counters]
479: (bf) r2 = r10
480: (07) r2 += -104
481: (85) call bpf_map_lookup_elem#1
482: (15) if r0 == 0x0 goto pc+11
483: (61) r1 = *(u32 *)(r10 -24)
484: (57) r1 &= 255
485: (67) r1 <<= 4
486: (0f) r0 += r1
487: (79) r1 = *(u64 *)(r0 +0)
488: (07) r1 += 1
489: (7b) *(u64 *)(r0 +0) = r1
490: (79) r1 = *(u64 *)(r0 +8)
491: (61) r2 = *(u32 *)(r10 -28)
492: (0f) r1 += r2
493: (7b) *(u64 *)(r0 +8) = r1
494: (bf) r0 = r9
495: (95) exit

cg_out_system_s: cgroup egress /sys/fs/cgroup/system.slice section cgroup_skb/egress (444 insns)
; prologue: parse headers into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -96) = 0
  2: (7a) *(u64 *)(r10 -88) = 0
  3: (7a) *(u64 *)(r10 -80) = 0
  4: (7a) *(u64 *)(r10 -72) = 0
  5: (7a) *(u64 *)(r10 -64) = 0
  6: (7a) *(u64 *)(r10 -56) = 0
  7: (7a) *(u64 *)(r10 -48) = 0
  8: (7a) *(u64 *)(r10 -40) = 0
  9: (7a) *(u64 *)(r10 -32) = 0
 10: (7a) *(u64 *)(r10 -24) = 0
 11: (7a) *(u64 *)(r10 -16) = 0
 12: (7a) *(u64 *)(r10 -8) = 0
 13: (61) r7 = *(u32 *)(r6 +76)
 14: (61) r8 = *(u32 *)(r6 +80)
 15: (61) r1 = *(u32 *)(r6 +0)
 16: (63) *(u32 *)(r10 -28) = r1
 17: (07) r7 += -14
 18: (bf) r9 = r7
 19: (07) r9 += 14
 20: (bd) if r9 <= r8 goto pc+14
 21: (71) r1 = *(u8 *)(r10 -29)
 22: (73) *(u8 *)(r10 -95) = r1
 23: (73) *(u8 *)(r10 -87) = r1
 24: (73) *(u8 *)(r10 -79) = r1
 25: (73) *(u8 *)(r10 -71) = r1
 26: (73) *(u8 *)(r10 -63) = r1
 27: (73) *(u8 *)(r10 -55) = r1
 28: (73) *(u8 *)(r10 -47) = r1
 29: (73) *(u8 *)(r10 -39) = r1
 30: (73) *(u8 *)(r10 -31) = r1
 31: (73) *(u8 *)(r10 -23) = r1
 32: (73) *(u8 *)(r10 -15) = r1
 33: (73) *(u8 *)(r10 -7) = r1
 34: (05) goto pc+356
 35: (61) r1 = *(u32 *)(r6 +16)
 36: (15) if r1 == 0x8 goto pc+2
 37: (15) if r1 == 0xdd86 goto pc+28
 38: (05) goto pc+352
 39: (bf) r9 = r7
 40: (07) r9 += 34
 41: (2d) if r9 > r8 goto pc+349
 42: (71) r2 = *(u8 *)(r7 +14)
 43: (bf) r1 = r2
 44: (77) r1 >>= 4
 45: (55) if r1 != 0x4 goto pc+345
 46: (57) r2 &= 15
 47: (a5) if r2 < 0x5 goto pc+343
 48: (61) r1 = *(u32 *)(r7 +26)
 49: (63) *(u32 *)(r10 -92) = r1
 50: (61) r1 = *(u32 *)(r7 +30)
 51: (63) *(u32 *)(r10 -84) = r1
 52: (71) r1 = *(u8 *)(r7 +23)
 53: (73) *(u8 *)(r10 -39) = r1
 54: (72) *(u8 *)(r10 -40) = 4
 55: (69) r1 = *(u16 *)(r7 +20)
 56: (bf) r9 = r1
 57: (57) r9 &= 65343
 58: (07) r9 += 65535
 59: (77) r9 >>= 16
 60: (73) *(u8 *)(r10 -29) = r9
 61: (57) r1 &= 65311
 62: (55) if r1 != 0x0 goto pc+328
 63: (67) r2 <<= 2
 64: (0f) r7 += r2
 65: (05) goto pc+295
 66: (bf) r9 = r7
 67: (07) r9 += 54
 68: (2d) if r9 > r8 goto pc+322
 69: (71) r1 = *(u8 *)(r7 +14)
 70: (77) r1 >>= 4
 71: (55) if r1 != 0x6 goto pc+319
 72: (71) r2 = *(u8 *)(r7 +14)
 73: (77) r2 >>= 7
 74: (73) *(u8 *)(r10 -29) = r2
 75: (61) r1 = *(u32 *)(r7 +22)
 76: (63) *(u32 *)(r10 -76) = r1
 77: (61) r1 = *(u32 *)(r7 +26)
 78: (63) *(u32 *)(r10 -72) = r1
 79: (61) r1 = *(u32 *)(r7 +30)
 80: (63) *(u32 *)(r10 -68) = r1
 81: (61) r1 = *(u32 *)(r7 +34)
 82: (63) *(u32 *)(r10 -64) = r1
 83: (61) r1 = *(u32 *)(r7 +38)
 84: (63) *(u32 *)(r10 -56) = r1
 85: (61) r1 = *(u32 *)(r7 +42)
 86: (63) *(u32 *)(r10 -52) = r1
 87: (61) r1 = *(u32 *)(r7 +46)
 88: (63) *(u32 *)(r10 -48) = r1
 89: (61) r1 = *(u32 *)(r7 +50)
 90: (63) *(u32 *)(r10 -44) = r1
 91: (71) r1 = *(u8 *)(r7 +20)
 92: (73) *(u8 *)(r10 -39) = r1
 93: (72) *(u8 *)(r10 -40) = 6
 94: (07) r7 += 40
 95: (b7) r3 = 0
 96: (15) if r1 == 0x0 goto pc+27
 97: (15) if r1 == 0x2b goto pc+26
 98: (15) if r1 == 0x3c goto pc+25
 99: (15) if r1 == 0x2c goto pc+11
100: (55) if r1 != 0x33 goto pc+259
101: (05) goto pc+0
102: (bf) r4 = r7
103: (0f) r4 += r3
104: (bf) r5 = r4
105: (07) r5 += 22
106: (2d) if r5 > r8 goto pc+284
107: (71) r2 = *(u8 *)(r4 +15)
108: (07) r2 += 2
109: (67) r2 <<= 2
110: (05) goto pc+21
111: (bf) r4 = r7
112: (0f) r4 += r3
113: (bf) r5 = r4
114: (07) r5 += 22
115: (2d) if r5 > r8 goto pc+275
116: (72) *(u8 *)(r10 -29) = 1
117: (71) r1 = *(u8 *)(r4 +14)
118: (73) *(u8 *)(r10 -39) = r1
119: (69) r2 = *(u16 *)(r4 +16)
120: (57) r2 &= 63743
121: (55) if r2 != 0x0 goto pc+269
122: (b7) r2 = 8
123: (05) goto pc+8
124: (bf) r4 = r7
125: (0f) r4 += r3
126: (bf) r5 = r4
127: (07) r5 += 22
128: (2d) if r5 > r8 goto pc+262
129: (71) r2 = *(u8 *)(r4 +15)
130: (07) r2 += 1
131: (67) r2 <<= 3
132: (71) r1 = *(u8 *)(r4 +14)
133: (73) *(u8 *)(r10 -39) = r1
134: (0f) r3 += r2
135: (6b) *(u16 *)(r10 -36) = r3
136: (69) r3 = *(u16 *)(r10 -36)
137: (6a) *(u16 *)(r10 -36) = 0
138: (57) r3 &= 16383
139: (15) if r1 == 0x0 goto pc+27
140: (15) if r1 == 0x2b goto pc+26
141: (15) if r1 == 0x3c goto pc+25
142: (15) if r1 == 0x2c goto pc+11
143: (55) if r1 != 0x33 goto pc+216
144: (05) goto pc+0
145: (bf) r4 = r7
146: (0f) r4 += r3
147: (bf) r5 = r4
148: (07) r5 += 22
149: (2d) if r5 > r8 goto pc+241
150: (71) r2 = *(u8 *)(r4 +15)
151: (07) r2 += 2
152: (67) r2 <<= 2
153: (05) goto pc+21
154: (bf) r4 = r7
155: (0f) r4 += r3
156: (bf) r5 = r4
157: (07) r5 += 22
158: (2d) if r5 > r8 goto pc+232
159: (72) *(u8 *)(r10 -29) = 1
160: (71) r1 = *(u8 *)(r4 +14)
161: (73) *(u8 *)(r10 -39) = r1
162: (69) r2 = *(u16 *)(r4 +16)
163: (57) r2 &= 63743
164: (55) if r2 != 0x0 goto pc+226
165: (b7) r2 = 8
166: (05) goto pc+8
167: (bf) r4 = r7
168: (0f) r4 += r3
169: (bf) r5 = r4
170: (07) r5 += 22
171: (2d) if r5 > r8 goto pc+219
172: (71) r2 = *(u8 *)(r4 +15)
173: (07) r2 += 1
174: (67) r2 <<= 3
175: (71) r1 = *(u8 *)(r4 +14)
176: (73) *(u8 *)(r10 -39) = r1
177: (0f) r3 += r2
178: (6b) *(u16 *)(r10 -36) = r3
179: (69) r3 = *(u16 *)(r10 -36)
180: (6a) *(u16 *)(r10 -36) = 0
181: (57) r3 &= 16383
182: (15) if r1 == 0x0 goto pc+27
183: (15) if r1 == 0x2b goto pc+26
184: (15) if r1 == 0x3c goto pc+25
185: (15) if r1 == 0x2c goto pc+11
186: (55) if r1 != 0x33 goto pc+173
187: (05) goto pc+0
188: (bf) r4 = r7
189: (0f) r4 += r3
190: (bf) r5 = r4
191: (07) r5 += 22
192: (2d) if r5 > r8 goto pc+198
193: (71) r2 = *(u8 *)(r4 +15)
194: (07) r2 += 2
195: (67) r2 <<= 2
196: (05) goto pc+21
197: (bf) r4 = r7
198: (0f) r4 += r3
199: (bf) r5 = r4
200: (07) r5 += 22
201: (2d) if r5 > r8 goto pc+189
202: (72) *(u8 *)(r10 -29) = 1
203: (71) r1 = *(u8 *)(r4 +14)
204: (73) *(u8 *)(r10 -39) = r1
205: (69) r2 = *(u16 *)(r4 +16)
206: (57) r2 &= 63743
207: (55) if r2 != 0x0 goto pc+183
208: (b7) r2 = 8
209: (05) goto pc+8
210: (bf) r4 = r7
211: (0f) r4 += r3
212: (bf) r5 = r4
213: (07) r5 += 22
214: (2d) if r5 > r8 goto pc+176
215: (71) r2 = *(u8 *)(r4 +15)
216: (07) r2 += 1
217: (67) r2 <<= 3
218: (71) r1 = *(u8 *)(r4 +14)
219: (73) *(u8 *)(r10 -39) = r1
220: (0f) r3 += r2
221: (6b) *(u16 *)(r10 -36) = r3
222: (69) r3 = *(u16 *)(r10 -36)
223: (6a) *(u16 *)(r10 -36) = 0
224: (57) r3 &= 16383
225: (15) if r1 == 0x0 goto pc+27
226: (15) if r1 == 0x2b goto pc+26
227: (15) if r1 == 0x3c goto pc+25
228: (15) if r1 == 0x2c goto pc+11
229: (55) if r1 != 0x33 goto pc+130
230: (05) goto pc+0
231: (bf) r4 = r7
232: (0f) r4 += r3
233: (bf) r5 = r4
234: (07) r5 += 22
235: (2d) if r5 > r8 goto pc+155
236: (71) r2 = *(u8 *)(r4 +15)
237: (07) r2 += 2
238: (67) r2 <<= 2
239: (05) goto pc+21
240: (bf) r4 = r7
241: (0f) r4 += r3
242: (bf) r5 = r4
243: (07) r5 += 22
244: (2d) if r5 > r8 goto pc+146
245: (72) *(u8 *)(r10 -29) = 1
246: (71) r1 = *(u8 *)(r4 +14)
247: (73) *(u8 *)(r10 -39) = r1
248: (69) r2 = *(u16 *)(r4 +16)
249: (57) r2 &= 63743
250: (55) if r2 != 0x0 goto pc+140
251: (b7) r2 = 8
252: (05) goto pc+8
253: (bf) r4 = r7
254: (0f) r4 += r3
255: (bf) r5 = r4
256: (07) r5 += 22
257: (2d) if r5 > r8 goto pc+133
258: (71) r2 = *(u8 *)(r4 +15)
259: (07) r2 += 1
260: (67) r2 <<= 3
261: (71) r1 = *(u8 *)(r4 +14)
262: (73) *(u8 *)(r10 -39) = r1
263: (0f) r3 += r2
264: (6b) *(u16 *)(r10 -36) = r3
265: (69) r3 = *(u16 *)(r10 -36)
266: (6a) *(u16 *)(r10 -36) = 0
267: (57) r3 &= 16383
268: (15) if r1 == 0x0 goto pc+27
269: (15) if r1 == 0x2b goto pc+26
270: (15) if r1 == 0x3c goto pc+25
271: (15) if r1 == 0x2c goto pc+11
272: (55) if r1 != 0x33 goto pc+87
273: (05) goto pc+0
274: (bf) r4 = r7
275: (0f) r4 += r3
276: (bf) r5 = r4
277: (07) r5 += 22
278: (2d) if r5 > r8 goto pc+112
279: (71) r2 = *(u8 *)(r4 +15)
280: (07) r2 += 2
281: (67) r2 <<= 2
282: (05) goto pc+21
283: (bf) r4 = r7
284: (0f) r4 += r3
285: (bf) r5 = r4
286: (07) r5 += 22
287: (2d) if r5 > r8 goto pc+103
288: (72) *(u8 *)(r10 -29) = 1
289: (71) r1 = *(u8 *)(r4 +14)
290: (73) *(u8 *)(r10 -39) = r1
291: (69) r2 = *(u16 *)(r4 +16)
292: (57) r2 &= 63743
293: (55) if r2 != 0x0 goto pc+97
294: (b7) r2 = 8
295: (05) goto pc+8
296: (bf) r4 = r7
297: (0f) r4 += r3
298: (bf) r5 = r4
299: (07) r5 += 22
300: (2d) if r5 > r8 goto pc+90
301: (71) r2 = *(u8 *)(r4 +15)
302: (07) r2 += 1
303: (67) r2 <<= 3
304: (71) r1 = *(u8 *)(r4 +14)
305: (73) *(u8 *)(r10 -39) = r1
306: (0f) r3 += r2
307: (6b) *(u16 *)(r10 -36) = r3
308: (69) r3 = *(u16 *)(r10 -36)
309: (6a) *(u16 *)(r10 -36) = 0
310: (57) r3 &= 16383
311: (15) if r1 == 0x0 goto pc+27
312: (15) if r1 == 0x2b goto pc+26
313: (15) if r1 == 0x3c goto pc+25
314: (15) if r1 == 0x2c goto pc+11
315: (55) if r1 != 0x33 goto pc+44
316: (05) goto pc+0
317: (bf) r4 = r7
318: (0f) r4 += r3
319: (bf) r5 = r4
320: (07) r5 += 22
321: (2d) if r5 > r8 goto pc+69
322: (71) r2 = *(u8 *)(r4 +15)
323: (07) r2 += 2
324: (67) r2 <<= 2
325: (05) goto pc+21
326: (bf) r4 = r7
327: (0f) r4 += r3
328: (bf) r5 = r4
329: (07) r5 += 22
330: (2d) if r5 > r8 goto pc+60
331: (72) *(u8 *)(r10 -29) = 1
332: (71) r1 = *(u8 *)(r4 +14)
333: (73) *(u8 *)(r10 -39) = r1
334: (69) r2 = *(u16 *)(r4 +16)
335: (57) r2 &= 63743
336: (55) if r2 != 0x0 goto pc+54
337: (b7) r2 = 8
338: (05) goto pc+8
339: (bf) r4 = r7
340: (0f) r4 += r3
341: (bf) r5 = r4
342: (07) r5 += 22
343: (2d) if r5 > r8 goto pc+47
344: (71) r2 = *(u8 *)(r4 +15)
345: (07) r2 += 1
346: (67) r2 <<= 3
347: (71) r1 = *(u8 *)(r4 +14)
348: (73) *(u8 *)(r10 -39) = r1
349: (0f) r3 += r2
350: (6b) *(u16 *)(r10 -36) = r3
351: (69) r3 = *(u16 *)(r10 -36)
352: (6a) *(u16 *)(r10 -36) = 0
353: (57) r3 &= 16383
354: (15) if r1 == 0x0 goto pc+36
355: (15) if r1 == 0x2b goto pc+35
356: (15) if r1 == 0x3c goto pc+34
357: (15) if r1 == 0x2c goto pc+33
358: (55) if r1 != 0x33 goto pc+1
359: (05) goto pc+31
360: (0f) r7 += r3
361: (71) r1 = *(u8 *)(r10 -39)
362: (15) if r1 == 0x6 goto pc+12
363: (15) if r1 == 0x11 goto pc+17
364: (15) if r1 == 0x1 goto pc+1
365: (55) if r1 != 0x3a goto pc+25
366: (bf) r9 = r7
367: (07) r9 += 18
368: (2d) if r9 > r8 goto pc+22
369: (71) r1 = *(u8 *)(r7 +14)
370: (73) *(u8 *)(r10 -32) = r1
371: (71) r1 = *(u8 *)(r7 +15)
372: (73) *(u8 *)(r10 -31) = r1
373: (72) *(u8 *)(r10 -38) = 1
374: (05) goto pc+16
375: (bf) r9 = r7
376: (07) r9 += 34
377: (2d) if r9 > r8 goto pc+13
378: (71) r1 = *(u8 *)(r7 +27)
379: (73) *(u8 *)(r10 -37) = r1
380: (05) goto pc+3
381: (bf) r9 = r7
382: (07) r9 += 22
383: (2d) if r9 > r8 goto pc+7
384: (69) r1 = *(u16 *)(r7 +14)
385: (dc) r1 = be16 r1
386: (6b) *(u16 *)(r10 -36) = r1
387: (69) r1 = *(u16 *)(r7 +16)
388: (dc) r1 = be16 r1
389: (6b) *(u16 *)(r10 -34) = r1
390: (72) *(u8 *)(r10 -38) = 1
; line 25: drop to 169.254.169.254 cgroup unit "app.service"
391: (71) r1 = *(u8 *)(r10 -40)
392: (55) if r1 != 0x4 goto pc+27
393: (61) r1 = *(u32 *)(r10 -84)
394: (56) if w1 != 0xfea9fea9 goto pc+25
; cgroup unit "app.service": slot 3
395: (62) *(u32 *)(r10 -24) = 3
396: (18) r1 = map[cgroups]
398: (bf) r2 = r10
399: (07) r2 += -24
400: (85) call bpf_map_lookup_elem#1
401: (15) if r0 == 0x0 goto pc+18
402: (79) r1 = *(u64 *)(r0 +0)
403: (7b) *(u64 *)(r10 -304) = r1
404: (61) r1 = *(u32 *)(r0 +8)
405: (7b) *(u64 *)(r10 -296) = r1
406: (bf) r1 = r6
407: (85) call #79
408: (15) if r0 == 0x0 goto pc+11
409: (bf) r1 = r6
410: (61) r2 = *(u32 *)(r10 -296)
411: (85) call #83
412: (15) if r0 == 0x0 goto pc+3
413: (79) r1 = *(u64 *)(r10 -304)
414: (5d) if r0 != r1 goto pc+1
415: (05) goto pc+1
416: (05) goto pc+3
417: (62) *(u32 *)(r10 -24) = 9
418: (b7) r9 = 0
419: (05) goto pc+2
; line 26: default allow
420: (62) *(u32 *)(r10 -24) = 10
421: (b7) r9 = 1
422: (61) r1 = *(u32 *)(r10 -24)
423: (77) r1 >>= 8
424: (63) *(u32 *)(r10 -104) = r1
425: (18) r1 = map[counters]
427: (bf) r2 = r10
428: (07) r2 += -104
429: (85) call bpf_map_lookup_elem#1
430: (15) if r0 == 0x0 goto pc+11
431: (61) r1 = *(u32 *)(r10 -24)
432: (57) r1 &= 255
433: (67) r1 <<= 4
434: (0f) r0 += r1
435: (79) r1 = *(u64 *)(r0 +0)
436: (07) r1 += 1
437: (7b) *(u64 *)(r0 +0) = r1
438: (79) r1 = *(u64 *)(r0 +8)
439: (61) r2 = *(u32 *)(r10 -28)
440: (0f) r1 += r2
441: (7b) *(u64 *)(r0 +8) = r1
442: (bf) r0 = r9
443: (95) exit

cg_con4_system_: cgroup connect4 /sys/fs/cgroup/system.slice section cgroup/connect4 (74 insns)
; prologue: the socket call's address into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -96) = 0
  2: (7a) *(u64 *)(r10 -88) = 0
  3: (7a) *(u64 *)(r10 -80) = 0
  4: (7a) *(u64 *)(r10 -72) = 0
  5: (7a) *(u64 *)(r10 -64) = 0
  6: (7a) *(u64 *)(r10 -56) = 0
  7: (7a) *(u64 *)(r10 -48) = 0
  8: (7a) *(u64 *)(r10 -40) = 0
  9: (7a) *(u64 *)(r10 -32) = 0
 10: (7a) *(u64 *)(r10 -24) = 0
 11: (7a) *(u64 *)(r10 -16) = 0
 12: (7a) *(u64 *)(r10 -8) = 0
 13: (72) *(u8 *)(r10 -40) = 4
 14: (61) r1 = *(u32 *)(r6 +4)
 15: (63) *(u32 *)(r10 -84) = r1
 16: (61) r1 = *(u32 *)(r6 +36)
 17: (73) *(u8 *)(r10 -39) = r1
 18: (15) if r1 == 0x6 goto pc+1
 19: (55) if r1 != 0x11 goto pc+4
 20: (72) *(u8 *)(r10 -38) = 1
 21: (61) r1 = *(u32 *)(r6 +24)
 22: (dc) r1 = be16 r1
 23: (6b) *(u16 *)(r10 -34) = r1
; line 30: drop tcp to *:25 cgroup !"/sys/fs/cgroup/system.slice/postfix.service"
 24: (71) r1 = *(u8 *)(r10 -39)
 25: (55) if r1 != 0x6 goto pc+24
 26: (71) r1 = *(u8 *)(r10 -38)
 27: (15) if r1 == 0x0 goto pc+22
 28: (69) r1 = *(u16 *)(r10 -34)
 29: (55) if r1 != 0x19 goto pc+20
; cgroup !"/sys/fs/cgroup/system.slice/postfix.service": slot 4
 30: (62) *(u32 *)(r10 -24) = 4
 31: (18) r1 = map[cgroups]
 33: (bf) r2 = r10
 34: (07) r2 += -24
 35: (85) call bpf_map_lookup_elem#1
 36: (15) if r0 == 0x0 goto pc+13
 37: (79) r1 = *(u64 *)(r0 +0)
 38: (7b) *(u64 *)(r10 -304) = r1
 39: (61) r1 = *(u32 *)(r0 +8)
 40: (7b) *(u64 *)(r10 -296) = r1
 41: (61) r1 = *(u32 *)(r10 -296)
 42: (85) call #123
 43: (15) if r0 == 0x0 goto pc+3
 44: (79) r1 = *(u64 *)(r10 -304)
 45: (5d) if r0 != r1 goto pc+1
 46: (05) goto pc+3
 47: (62) *(u32 *)(r10 -24) = 11
 48: (b7) r9 = 0
 49: (05) goto pc+2
; line 31: default allow
 50: (62) *(u32 *)(r10 -24) = 12
 51: (b7) r9 = 1
 52: (61) r1 = *(u32 *)(r10 -24)
 53: (77) r1 >>= 8
 54: (63) *(u32 *)(r10 -104) = r1
 55: (18) r1 = map[counters]
 57: (bf) r2 = r10
 58: (07) r2 += -104
 59: (85) call bpf_map_lookup_elem#1
 60: (15) if r0 == 0x0 goto pc+11
 61: (61) r1 = *(u32 *)(r10 -24)
 62: (57) r1 &= 255
 63: (67) r1 <<= 4
 64: (0f) r0 += r1
 65: (79) r1 = *(u64 *)(r0 +0)
 66: (07) r1 += 1
 67: (7b) *(u64 *)(r0 +0) = r1
 68: (79) r1 = *(u64 *)(r0 +8)
 69: (61) r2 = *(u32 *)(r10 -28)
 70: (0f) r1 += r2
 71: (7b) *(u64 *)(r0 +8) = r1
 72: (bf) r0 = r9
 73: (95) exit

cg_con6_system_: cgroup connect6 /sys/fs/cgroup/system.slice section cgroup/connect6 (91 insns)
; prologue: the socket call's address into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -96) = 0
  2: (7a) *(u64 *)(r10 -88) = 0
  3: (7a) *(u64 *)(r10 -80) = 0
  4: (7a) *(u64 *)(r10 -72) = 0
  5: (7a) *(u64 *)(r10 -64) = 0
  6: (7a) *(u64 *)(r10 -56) = 0
  7: (7a) *(u64 *)(r10 -48) = 0
  8: (7a) *(u64 *)(r10 -40) = 0
  9: (7a) *(u64 *)(r10 -32) = 0
 10: (7a) *(u64 *)(r10 -24) = 0
 11: (7a) *(u64 *)(r10 -16) = 0
 12: (7a) *(u64 *)(r10 -8) = 0
 13: (61) r1 = *(u32 *)(r6 +8)
 14: (61) r2 = *(u32 *)(r6 +12)
 15: (4f) r1 |= r2
 16: (55) if r1 != 0x0 goto pc+7
 17: (61) r1 = *(u32 *)(r6 +16)
 18: (a4) w1 ^= -65536
 19: (55) if r1 != 0x0 goto pc+4
; an IPv4-mapped address: the call reaches IPv4
 20: (72) *(u8 *)(r10 -40) = 4
 21: (61) r1 = *(u32 *)(r6 +20)
 22: (63) *(u32 *)(r10 -84) = r1
 23: (05) goto pc+9
 24: (72) *(u8 *)(r10 -40) = 6
 25: (61) r1 = *(u32 *)(r6 +8)
 26: (63) *(u32 *)(r10 -56) = r1
 27: (61) r1 = *(u32 *)(r6 +12)
 28: (63) *(u32 *)(r10 -52) = r1
 29: (61) r1 = *(u32 *)(r6 +16)
 30: (63) *(u32 *)(r10 -48) = r1
 31: (61) r1 = *(u32 *)(r6 +20)
 32: (63) *(u32 *)(r10 -44) = r1
 33: (61) r1 = *(u32 *)(r6 +36)
 34: (73) *(u8 *)(r10 -39) = r1
 35: (15) if r1 == 0x6 goto pc+1
 36: (55) if r1 != 0x11 goto pc+4
 37: (72) *(u8 *)(r10 -38) = 1
 38: (61) r1 = *(u32 *)(r6 +24)
 39: (dc) r1 = be16 r1
 40: (6b) *(u16 *)(r10 -34) = r1
; line 30: drop tcp to *:25 cgroup !"/sys/fs/cgroup/system.slice/postfix.service"
 41: (71) r1 = *(u8 *)(r10 -39)
 42: (55) if r1 != 0x6 goto pc+24
 43: (71) r1 = *(u8 *)(r10 -38)
 44: (15) if r1 == 0x0 goto pc+22
 45: (69) r1 = *(u16 *)(r10 -34)
 46: (55) if r1 != 0x19 goto pc+20
; cgroup !"/sys/fs/cgroup/system.slice/postfix.service": slot 4
 47: (62) *(u32 *)(r10 -24) = 4
 48: (18) r1 = map[cgroups]
 50: (bf) r2 = r10
 51: (07) r2 += -24
 52: (85) call bpf_map_lookup_elem#1
 53: (15) if r0 == 0x0 goto pc+13
 54: (79) r1 = *(u64 *)(r0 +0)
 55: (7b) *(u64 *)(r10 -304) = r1
 56: (61) r1 = *(u32 *)(r0 +8)
 57: (7b) *(u64 *)(r10 -296) = r1
 58: (61) r1 = *(u32 *)(r10 -296)
 59: (85) call #123
 60: (15) if r0 == 0x0 goto pc+3
 61: (79) r1 = *(u64 *)(r10 -304)
 62: (5d) if r0 != r1 goto pc+1
 63: (05) goto pc+3
 64: (62) *(u32 *)(r10 -24) = 13
 65: (b7) r9 = 0
 66: (05) goto pc+2
; line 31: default allow
 67: (62) *(u32 *)(r10 -24) = 14
 68: (b7) r9 = 1
 69: (61) r1 = *(u32 *)(r10 -24)
 70: (77) r1 >>= 8
 71: (63) *(u32 *)(r10 -104) = r1
 72: (18) r1 = map[counters]
 74: (bf) r2 = r10
 75: (07) r2 += -104
 76: (85) call bpf_map_lookup_elem#1
 77: (15) if r0 == 0x0 goto pc+11
 78: (61) r1 = *(u32 *)(r10 -24)
 79: (57) r1 &= 255
 80: (67) r1 <<= 4
 81: (0f) r0 += r1
 82: (79) r1 = *(u64 *)(r0 +0)
 83: (07) r1 += 1
 84: (7b) *(u64 *)(r0 +0) = r1
 85: (79) r1 = *(u64 *)(r0 +8)
 86: (61) r2 = *(u32 *)(r10 -28)
 87: (0f) r1 += r2
 88: (7b) *(u64 *)(r0 +8) = r1
 89: (bf) r0 = r9
 90: (95) exit

