sk_lookup: sk_lookup - section sk_lookup (238 insns)
; prologue: the lookup into the flow record
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
 14: (15) if r1 == 0x2 goto pc+18
 15: (72) *(u8 *)(r10 -40) = 6
 16: (61) r1 = *(u32 *)(r6 +20)
 17: (63) *(u32 *)(r10 -76) = r1
 18: (61) r1 = *(u32 *)(r6 +44)
 19: (63) *(u32 *)(r10 -56) = r1
 20: (61) r1 = *(u32 *)(r6 +24)
 21: (63) *(u32 *)(r10 -72) = r1
 22: (61) r1 = *(u32 *)(r6 +48)
 23: (63) *(u32 *)(r10 -52) = r1
 24: (61) r1 = *(u32 *)(r6 +28)
 25: (63) *(u32 *)(r10 -68) = r1
 26: (61) r1 = *(u32 *)(r6 +52)
 27: (63) *(u32 *)(r10 -48) = r1
 28: (61) r1 = *(u32 *)(r6 +32)
 29: (63) *(u32 *)(r10 -64) = r1
 30: (61) r1 = *(u32 *)(r6 +56)
 31: (63) *(u32 *)(r10 -44) = r1
 32: (05) goto pc+5
 33: (72) *(u8 *)(r10 -40) = 4
 34: (61) r1 = *(u32 *)(r6 +16)
 35: (63) *(u32 *)(r10 -92) = r1
 36: (61) r1 = *(u32 *)(r6 +40)
 37: (63) *(u32 *)(r10 -84) = r1
 38: (61) r1 = *(u32 *)(r6 +12)
 39: (73) *(u8 *)(r10 -39) = r1
 40: (72) *(u8 *)(r10 -38) = 1
 41: (69) r1 = *(u16 *)(r6 +36)
 42: (dc) r1 = be16 r1
 43: (6b) *(u16 *)(r10 -36) = r1
 44: (61) r1 = *(u32 *)(r6 +60)
 45: (6b) *(u16 *)(r10 -34) = r1
; line 12: redirect 3.3.3.3:* to sock proxy
 46: (71) r1 = *(u8 *)(r10 -40)
 47: (55) if r1 != 0x4 goto pc+6
 48: (71) r1 = *(u8 *)(r10 -39)
 49: (55) if r1 != 0x6 goto pc+22
 50: (61) r1 = *(u32 *)(r10 -84)
 51: (56) if w1 != 0x3030303 goto pc+29
 52: (62) *(u32 *)(r10 -24) = 0
 53: (05) goto pc+63
; line 13: redirect [2001:db8::1]:443 to sock admin
 54: (71) r1 = *(u8 *)(r10 -39)
 55: (55) if r1 != 0x6 goto pc+37
 56: (61) r1 = *(u32 *)(r10 -56)
 57: (a4) w1 ^= -1207107296
 58: (61) r2 = *(u32 *)(r10 -52)
 59: (a4) w2 ^= 0
 60: (4c) w1 |= w2
 61: (61) r2 = *(u32 *)(r10 -48)
 62: (a4) w2 ^= 0
 63: (4c) w1 |= w2
 64: (61) r2 = *(u32 *)(r10 -44)
 65: (a4) w2 ^= 16777216
 66: (4c) w1 |= w2
 67: (56) if w1 != 0x0 goto pc+25
 68: (69) r1 = *(u16 *)(r10 -34)
 69: (55) if r1 != 0x1bb goto pc+23
 70: (62) *(u32 *)(r10 -24) = 1
 71: (05) goto pc+66
; line 14: redirect 1.1.1.0/24:53 to sock dns
 72: (71) r1 = *(u8 *)(r10 -39)
 73: (55) if r1 != 0x11 goto pc+19
 74: (61) r1 = *(u32 *)(r10 -84)
 75: (54) w1 &= 16777215
 76: (56) if w1 != 0x10101 goto pc+16
 77: (69) r1 = *(u16 *)(r10 -34)
 78: (55) if r1 != 0x35 goto pc+14
 79: (62) *(u32 *)(r10 -24) = 2
 80: (05) goto pc+78
; line 15: redirect 4.4.4.4:9100 to sock metrics
 81: (61) r1 = *(u32 *)(r10 -84)
 82: (56) if w1 != 0x4040404 goto pc+4
 83: (69) r1 = *(u16 *)(r10 -34)
 84: (55) if r1 != 0x238c goto pc+8
 85: (62) *(u32 *)(r10 -24) = 3
 86: (05) goto pc+93
; line 16: redirect 5.5.5.5:22 to sock ssh
 87: (61) r1 = *(u32 *)(r10 -84)
 88: (56) if w1 != 0x5050505 goto pc+4
 89: (69) r1 = *(u16 *)(r10 -34)
 90: (55) if r1 != 0x16 goto pc+2
 91: (62) *(u32 *)(r10 -24) = 4
 92: (05) goto pc+108
; line 17: default pass
 93: (62) *(u32 *)(r10 -24) = 5
 94: (b7) r9 = 1
 95: (61) r1 = *(u32 *)(r10 -24)
 96: (77) r1 >>= 8
 97: (63) *(u32 *)(r10 -104) = r1
 98: (18) r1 = map[counters]
100: (bf) r2 = r10
101: (07) r2 += -104
102: (85) call bpf_map_lookup_elem#1
103: (15) if r0 == 0x0 goto pc+11
104: (61) r1 = *(u32 *)(r10 -24)
105: (57) r1 &= 255
106: (67) r1 <<= 4
107: (0f) r0 += r1
108: (79) r1 = *(u64 *)(r0 +0)
109: (07) r1 += 1
110: (7b) *(u64 *)(r0 +0) = r1
111: (79) r1 = *(u64 *)(r0 +8)
112: (61) r2 = *(u32 *)(r10 -28)
113: (0f) r1 += r2
114: (7b) *(u64 *)(r0 +8) = r1
115: (bf) r0 = r9
116: (95) exit
; redirect to socket sock0: its slot in the socket map
117: (62) *(u32 *)(r10 -20) = 0
118: (18) r1 = map[sockets]
120: (bf) r2 = r10
121: (07) r2 += -20
122: (85) call bpf_map_lookup_elem#1
123: (15) if r0 == 0x0 goto pc+12
124: (bf) r7 = r0
125: (bf) r1 = r6
126: (bf) r2 = r7
127: (b7) r3 = 0
128: (85) call bpf_sk_assign#124
129: (bf) r8 = r0
130: (bf) r1 = r7
131: (85) call bpf_sk_release#86
132: (b7) r9 = 1
133: (15) if r8 == 0x0 goto pc-39
134: (b7) r1 = 1
135: (05) goto pc+86
136: (b7) r1 = 0
137: (05) goto pc+84
; redirect to socket sock1: its slot in the socket map
138: (62) *(u32 *)(r10 -20) = 1
139: (18) r1 = map[sockets]
141: (bf) r2 = r10
142: (07) r2 += -20
143: (85) call bpf_map_lookup_elem#1
144: (15) if r0 == 0x0 goto pc+12
145: (bf) r7 = r0
146: (bf) r1 = r6
147: (bf) r2 = r7
148: (b7) r3 = 0
149: (85) call bpf_sk_assign#124
150: (bf) r8 = r0
151: (bf) r1 = r7
152: (85) call bpf_sk_release#86
153: (b7) r9 = 1
154: (15) if r8 == 0x0 goto pc-60
155: (b7) r1 = 3
156: (05) goto pc+65
157: (b7) r1 = 2
158: (05) goto pc+63
; redirect to socket sock2: its slot in the socket map
159: (62) *(u32 *)(r10 -20) = 2
160: (18) r1 = map[sockets]
162: (bf) r2 = r10
163: (07) r2 += -20
164: (85) call bpf_map_lookup_elem#1
165: (15) if r0 == 0x0 goto pc+12
166: (bf) r7 = r0
167: (bf) r1 = r6
168: (bf) r2 = r7
169: (b7) r3 = 0
170: (85) call bpf_sk_assign#124
171: (bf) r8 = r0
172: (bf) r1 = r7
173: (85) call bpf_sk_release#86
174: (b7) r9 = 1
175: (15) if r8 == 0x0 goto pc-81
176: (b7) r1 = 5
177: (05) goto pc+44
178: (b7) r1 = 4
179: (05) goto pc+42
; redirect to socket sock3: its slot in the socket map
180: (62) *(u32 *)(r10 -20) = 3
181: (18) r1 = map[sockets]
183: (bf) r2 = r10
184: (07) r2 += -20
185: (85) call bpf_map_lookup_elem#1
186: (15) if r0 == 0x0 goto pc+12
187: (bf) r7 = r0
188: (bf) r1 = r6
189: (bf) r2 = r7
190: (b7) r3 = 0
191: (85) call bpf_sk_assign#124
192: (bf) r8 = r0
193: (bf) r1 = r7
194: (85) call bpf_sk_release#86
195: (b7) r9 = 1
196: (15) if r8 == 0x0 goto pc-102
197: (b7) r1 = 7
198: (05) goto pc+23
199: (b7) r1 = 6
200: (05) goto pc+21
; redirect to socket sock4: its slot in the socket map
201: (62) *(u32 *)(r10 -20) = 4
202: (18) r1 = map[sockets]
204: (bf) r2 = r10
205: (07) r2 += -20
206: (85) call bpf_map_lookup_elem#1
207: (15) if r0 == 0x0 goto pc+12
208: (bf) r7 = r0
209: (bf) r1 = r6
210: (bf) r2 = r7
211: (b7) r3 = 0
212: (85) call bpf_sk_assign#124
213: (bf) r8 = r0
214: (bf) r1 = r7
215: (85) call bpf_sk_release#86
216: (b7) r9 = 1
217: (15) if r8 == 0x0 goto pc-123
218: (b7) r1 = 9
219: (05) goto pc+2
220: (b7) r1 = 8
221: (05) goto pc+0
; redirect dropped: count it for the socket
222: (63) *(u32 *)(r10 -20) = r1
223: (18) r1 = map[socket_drops]
225: (bf) r2 = r10
226: (07) r2 += -20
227: (85) call bpf_map_lookup_elem#1
228: (15) if r0 == 0x0 goto pc+7
229: (79) r1 = *(u64 *)(r0 +0)
230: (07) r1 += 1
231: (7b) *(u64 *)(r0 +0) = r1
232: (79) r1 = *(u64 *)(r0 +8)
233: (61) r2 = *(u32 *)(r10 -28)
234: (0f) r1 += r2
235: (7b) *(u64 *)(r0 +8) = r1
236: (b7) r9 = 0
237: (05) goto pc-143

