sk_lookup: sk_lookup - section sk_lookup (237 insns)
; prologue: the lookup into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -88) = 0
  2: (7a) *(u64 *)(r10 -80) = 0
  3: (7a) *(u64 *)(r10 -72) = 0
  4: (7a) *(u64 *)(r10 -64) = 0
  5: (7a) *(u64 *)(r10 -56) = 0
  6: (7a) *(u64 *)(r10 -48) = 0
  7: (7a) *(u64 *)(r10 -40) = 0
  8: (7a) *(u64 *)(r10 -32) = 0
  9: (7a) *(u64 *)(r10 -24) = 0
 10: (7a) *(u64 *)(r10 -16) = 0
 11: (7a) *(u64 *)(r10 -8) = 0
 12: (61) r1 = *(u32 *)(r6 +8)
 13: (15) if r1 == 0x2 goto pc+18
 14: (72) *(u8 *)(r10 -32) = 6
 15: (61) r1 = *(u32 *)(r6 +20)
 16: (63) *(u32 *)(r10 -68) = r1
 17: (61) r1 = *(u32 *)(r6 +44)
 18: (63) *(u32 *)(r10 -48) = r1
 19: (61) r1 = *(u32 *)(r6 +24)
 20: (63) *(u32 *)(r10 -64) = r1
 21: (61) r1 = *(u32 *)(r6 +48)
 22: (63) *(u32 *)(r10 -44) = r1
 23: (61) r1 = *(u32 *)(r6 +28)
 24: (63) *(u32 *)(r10 -60) = r1
 25: (61) r1 = *(u32 *)(r6 +52)
 26: (63) *(u32 *)(r10 -40) = r1
 27: (61) r1 = *(u32 *)(r6 +32)
 28: (63) *(u32 *)(r10 -56) = r1
 29: (61) r1 = *(u32 *)(r6 +56)
 30: (63) *(u32 *)(r10 -36) = r1
 31: (05) goto pc+5
 32: (72) *(u8 *)(r10 -32) = 4
 33: (61) r1 = *(u32 *)(r6 +16)
 34: (63) *(u32 *)(r10 -84) = r1
 35: (61) r1 = *(u32 *)(r6 +40)
 36: (63) *(u32 *)(r10 -76) = r1
 37: (61) r1 = *(u32 *)(r6 +12)
 38: (73) *(u8 *)(r10 -31) = r1
 39: (72) *(u8 *)(r10 -30) = 1
 40: (69) r1 = *(u16 *)(r6 +36)
 41: (dc) r1 = be16 r1
 42: (6b) *(u16 *)(r10 -28) = r1
 43: (61) r1 = *(u32 *)(r6 +60)
 44: (6b) *(u16 *)(r10 -26) = r1
; line 12: redirect 3.3.3.3:* to sock proxy
 45: (71) r1 = *(u8 *)(r10 -32)
 46: (55) if r1 != 0x4 goto pc+6
 47: (71) r1 = *(u8 *)(r10 -31)
 48: (55) if r1 != 0x6 goto pc+22
 49: (61) r1 = *(u32 *)(r10 -76)
 50: (56) if w1 != 0x3030303 goto pc+29
 51: (62) *(u32 *)(r10 -16) = 0
 52: (05) goto pc+63
; line 13: redirect [2001:db8::1]:443 to sock admin
 53: (71) r1 = *(u8 *)(r10 -31)
 54: (55) if r1 != 0x6 goto pc+37
 55: (61) r1 = *(u32 *)(r10 -48)
 56: (a4) w1 ^= -1207107296
 57: (61) r2 = *(u32 *)(r10 -44)
 58: (a4) w2 ^= 0
 59: (4c) w1 |= w2
 60: (61) r2 = *(u32 *)(r10 -40)
 61: (a4) w2 ^= 0
 62: (4c) w1 |= w2
 63: (61) r2 = *(u32 *)(r10 -36)
 64: (a4) w2 ^= 16777216
 65: (4c) w1 |= w2
 66: (56) if w1 != 0x0 goto pc+25
 67: (69) r1 = *(u16 *)(r10 -26)
 68: (55) if r1 != 0x1bb goto pc+23
 69: (62) *(u32 *)(r10 -16) = 1
 70: (05) goto pc+66
; line 14: redirect 1.1.1.0/24:53 to sock dns
 71: (71) r1 = *(u8 *)(r10 -31)
 72: (55) if r1 != 0x11 goto pc+19
 73: (61) r1 = *(u32 *)(r10 -76)
 74: (54) w1 &= 16777215
 75: (56) if w1 != 0x10101 goto pc+16
 76: (69) r1 = *(u16 *)(r10 -26)
 77: (55) if r1 != 0x35 goto pc+14
 78: (62) *(u32 *)(r10 -16) = 2
 79: (05) goto pc+78
; line 15: redirect 4.4.4.4:9100 to sock metrics
 80: (61) r1 = *(u32 *)(r10 -76)
 81: (56) if w1 != 0x4040404 goto pc+4
 82: (69) r1 = *(u16 *)(r10 -26)
 83: (55) if r1 != 0x238c goto pc+8
 84: (62) *(u32 *)(r10 -16) = 3
 85: (05) goto pc+93
; line 16: redirect 5.5.5.5:22 to sock ssh
 86: (61) r1 = *(u32 *)(r10 -76)
 87: (56) if w1 != 0x5050505 goto pc+4
 88: (69) r1 = *(u16 *)(r10 -26)
 89: (55) if r1 != 0x16 goto pc+2
 90: (62) *(u32 *)(r10 -16) = 4
 91: (05) goto pc+108
; line 17: default pass
 92: (62) *(u32 *)(r10 -16) = 5
 93: (b7) r9 = 1
 94: (61) r1 = *(u32 *)(r10 -16)
 95: (77) r1 >>= 8
 96: (63) *(u32 *)(r10 -96) = r1
 97: (18) r1 = map[counters]
 99: (bf) r2 = r10
100: (07) r2 += -96
101: (85) call bpf_map_lookup_elem#1
102: (15) if r0 == 0x0 goto pc+11
103: (61) r1 = *(u32 *)(r10 -16)
104: (57) r1 &= 255
105: (67) r1 <<= 4
106: (0f) r0 += r1
107: (79) r1 = *(u64 *)(r0 +0)
108: (07) r1 += 1
109: (7b) *(u64 *)(r0 +0) = r1
110: (79) r1 = *(u64 *)(r0 +8)
111: (61) r2 = *(u32 *)(r10 -20)
112: (0f) r1 += r2
113: (7b) *(u64 *)(r0 +8) = r1
114: (bf) r0 = r9
115: (95) exit
; redirect to socket sock0: its slot in the socket map
116: (62) *(u32 *)(r10 -12) = 0
117: (18) r1 = map[sockets]
119: (bf) r2 = r10
120: (07) r2 += -12
121: (85) call bpf_map_lookup_elem#1
122: (15) if r0 == 0x0 goto pc+12
123: (bf) r7 = r0
124: (bf) r1 = r6
125: (bf) r2 = r7
126: (b7) r3 = 0
127: (85) call bpf_sk_assign#124
128: (bf) r8 = r0
129: (bf) r1 = r7
130: (85) call bpf_sk_release#86
131: (b7) r9 = 1
132: (15) if r8 == 0x0 goto pc-39
133: (b7) r1 = 1
134: (05) goto pc+86
135: (b7) r1 = 0
136: (05) goto pc+84
; redirect to socket sock1: its slot in the socket map
137: (62) *(u32 *)(r10 -12) = 1
138: (18) r1 = map[sockets]
140: (bf) r2 = r10
141: (07) r2 += -12
142: (85) call bpf_map_lookup_elem#1
143: (15) if r0 == 0x0 goto pc+12
144: (bf) r7 = r0
145: (bf) r1 = r6
146: (bf) r2 = r7
147: (b7) r3 = 0
148: (85) call bpf_sk_assign#124
149: (bf) r8 = r0
150: (bf) r1 = r7
151: (85) call bpf_sk_release#86
152: (b7) r9 = 1
153: (15) if r8 == 0x0 goto pc-60
154: (b7) r1 = 3
155: (05) goto pc+65
156: (b7) r1 = 2
157: (05) goto pc+63
; redirect to socket sock2: its slot in the socket map
158: (62) *(u32 *)(r10 -12) = 2
159: (18) r1 = map[sockets]
161: (bf) r2 = r10
162: (07) r2 += -12
163: (85) call bpf_map_lookup_elem#1
164: (15) if r0 == 0x0 goto pc+12
165: (bf) r7 = r0
166: (bf) r1 = r6
167: (bf) r2 = r7
168: (b7) r3 = 0
169: (85) call bpf_sk_assign#124
170: (bf) r8 = r0
171: (bf) r1 = r7
172: (85) call bpf_sk_release#86
173: (b7) r9 = 1
174: (15) if r8 == 0x0 goto pc-81
175: (b7) r1 = 5
176: (05) goto pc+44
177: (b7) r1 = 4
178: (05) goto pc+42
; redirect to socket sock3: its slot in the socket map
179: (62) *(u32 *)(r10 -12) = 3
180: (18) r1 = map[sockets]
182: (bf) r2 = r10
183: (07) r2 += -12
184: (85) call bpf_map_lookup_elem#1
185: (15) if r0 == 0x0 goto pc+12
186: (bf) r7 = r0
187: (bf) r1 = r6
188: (bf) r2 = r7
189: (b7) r3 = 0
190: (85) call bpf_sk_assign#124
191: (bf) r8 = r0
192: (bf) r1 = r7
193: (85) call bpf_sk_release#86
194: (b7) r9 = 1
195: (15) if r8 == 0x0 goto pc-102
196: (b7) r1 = 7
197: (05) goto pc+23
198: (b7) r1 = 6
199: (05) goto pc+21
; redirect to socket sock4: its slot in the socket map
200: (62) *(u32 *)(r10 -12) = 4
201: (18) r1 = map[sockets]
203: (bf) r2 = r10
204: (07) r2 += -12
205: (85) call bpf_map_lookup_elem#1
206: (15) if r0 == 0x0 goto pc+12
207: (bf) r7 = r0
208: (bf) r1 = r6
209: (bf) r2 = r7
210: (b7) r3 = 0
211: (85) call bpf_sk_assign#124
212: (bf) r8 = r0
213: (bf) r1 = r7
214: (85) call bpf_sk_release#86
215: (b7) r9 = 1
216: (15) if r8 == 0x0 goto pc-123
217: (b7) r1 = 9
218: (05) goto pc+2
219: (b7) r1 = 8
220: (05) goto pc+0
; redirect dropped: count it for the socket
221: (63) *(u32 *)(r10 -12) = r1
222: (18) r1 = map[socket_drops]
224: (bf) r2 = r10
225: (07) r2 += -12
226: (85) call bpf_map_lookup_elem#1
227: (15) if r0 == 0x0 goto pc+7
228: (79) r1 = *(u64 *)(r0 +0)
229: (07) r1 += 1
230: (7b) *(u64 *)(r0 +0) = r1
231: (79) r1 = *(u64 *)(r0 +8)
232: (61) r2 = *(u32 *)(r10 -20)
233: (0f) r1 += r2
234: (7b) *(u64 *)(r0 +8) = r1
235: (b7) r9 = 0
236: (05) goto pc-143

